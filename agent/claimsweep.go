package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"shoal/cluster"
	"shoal/consensus"
)

// The data of a deleted PersistentVolumeClaim goes when the state says so
// (a released ClaimLocation on this node: a tombstone), never because a
// claim looks absent: a member that restarts replays an older state first.
// The node deletes the directory, then asks the leader to forget the
// tombstone; until then no pod of a new claim of that name is placed, so
// the data deleted is never a new claim's.

// claimSweeper deletes this node's data of released claims.
type claimSweeper struct {
	node       string
	volumesDir string // the data dir's volumes/
	store      interface {
		State() *cluster.State
		Changed() <-chan struct{}
		CaughtUp() bool
	}
	forget func(context.Context, *consensus.ForgetClaims) error
	log    *slog.Logger
}

// sweepRetry is how often the sweeper looks again without a state change
// (the leader may have been unreachable, or the state not caught up).
const sweepRetry = 5 * time.Second

func (c *claimSweeper) run(ctx context.Context) {
	t := time.NewTicker(sweepRetry)
	defer t.Stop()
	for {
		ch := c.store.Changed()
		c.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-t.C:
		}
	}
}

// sweep deletes the data of this node's tombstones and forgets them.
func (c *claimSweeper) sweep(ctx context.Context) {
	released := releasedClaims(c.store.State(), c.node)
	if len(released) == 0 || !c.store.CaughtUp() {
		return
	}
	cmd := &consensus.ForgetClaims{Node: c.node}
	for _, f := range released {
		dir, err := releasedDir(c.volumesDir, f)
		if err == nil {
			err = os.RemoveAll(dir)
		}
		if err != nil {
			c.log.Warn("delete a released claim's data", "claim", f.Namespace+"/"+f.Claim, "err", err)
			continue
		}
		c.log.Info("deleted a released claim's data", "claim", f.Namespace+"/"+f.Claim, "dir", dir)
		cmd.Claims = append(cmd.Claims, f)
	}
	if len(cmd.Claims) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.forget(wctx, cmd); err != nil {
		// The data is gone; the next sweep asks again.
		c.log.Warn("forget released claims", "err", err)
	}
}

// releasedClaims lists the tombstones of node, as ForgetClaims names them.
func releasedClaims(st *cluster.State, node string) []consensus.ForgottenClaim {
	var out []consensus.ForgottenClaim
	for _, loc := range st.ClaimLocations() {
		if loc.Released && loc.Node == node {
			out = append(out, consensus.ForgottenClaim{Namespace: loc.Namespace, Claim: loc.Claim, ModifyIndex: loc.ModifyIndex})
		}
	}
	return out
}

// releasedDir is a released claim's directory under volumesDir; names
// that could leave it are refused (the FSM stores what manifests
// validated, but the path is built here, next to a RemoveAll).
func releasedDir(volumesDir string, f consensus.ForgottenClaim) (string, error) {
	for _, s := range []string{f.Namespace, f.Claim} {
		if s == "" || strings.ContainsAny(s, "/\\\x00") || strings.HasPrefix(s, ".") {
			return "", fmt.Errorf("invalid claim path element %q", s)
		}
	}
	cs := cluster.ClaimSource{ClaimName: f.Claim, Standalone: true}
	return filepath.Join(volumesDir, f.Namespace, cs.DirName("")), nil
}
