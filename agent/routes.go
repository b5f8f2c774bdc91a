package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"shoal/cluster"
	"shoal/runtime"
)

// routeResync is how often the route loop rewrites routes that did not
// change in the state, to repair what someone else removed meanwhile.
const routeResync = time.Minute

// podRoutes is host-gw: every other node's PodCIDR via that node's
// address, sorted by CIDR. Nodes without a subnet (not yet allocated) or
// an address cannot be routed to and are skipped. Down nodes keep their
// route: their subnet stays theirs until they are removed, and traffic to
// it fails either way.
func podRoutes(st *cluster.State, self string) []runtime.Route {
	var out []runtime.Route
	for _, n := range st.Nodes() {
		if n.Name == self || n.PodCIDR == "" || n.Address == "" {
			continue
		}
		// The address is an IP by contract; a host:port slipping in must
		// not become a broken route.
		addr, err := netip.ParseAddr(n.Address)
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(n.Address); err2 == nil {
				addr = ap.Addr()
			} else {
				continue
			}
		}
		out = append(out, runtime.Route{CIDR: n.PodCIDR, Via: addr.Unmap().String()})
	}
	slices.SortFunc(out, func(a, b runtime.Route) int {
		pa, ea := netip.ParsePrefix(a.CIDR)
		pb, eb := netip.ParsePrefix(b.CIDR)
		if ea == nil && eb == nil {
			if c := pa.Addr().Compare(pb.Addr()); c != 0 {
				return c
			}
			return pa.Bits() - pb.Bits()
		}
		if a.CIDR < b.CIDR {
			return -1
		} else if a.CIDR > b.CIDR {
			return 1
		}
		return 0
	})
	return out
}

// syncPodRoutes makes this node's owned routes those of the state; sync is
// runtime.Runtime.SyncRoutes (a seam for tests).
func syncPodRoutes(ctx context.Context, st *cluster.State, self string, sync func(context.Context, []runtime.Route) error) error {
	if err := sync(ctx, podRoutes(st, self)); err != nil {
		return fmt.Errorf("pod routes: %w", err)
	}
	return nil
}

// routeSource is what the route loop reads: consensus.Store satisfies it.
type routeSource interface {
	State() *cluster.State
	Changed() <-chan struct{}
}

// runRouteSync keeps the routes in step with the state until ctx ends.
// Most state changes are pod updates that leave the routes as they are,
// so it syncs only when the computed routes differ from the last ones
// applied, after a failure (retried with backoff), and every routeResync.
// On exit the routes stay: pods keep talking across an agent restart,
// and the next start replaces whatever changed meanwhile.
func runRouteSync(ctx context.Context, src routeSource, self string, sync func(context.Context, []runtime.Route) error, log *slog.Logger) {
	routeSyncLoop(ctx, src, self, sync, log, routeResync)
}

func routeSyncLoop(ctx context.Context, src routeSource, self string, sync func(context.Context, []runtime.Route) error, log *slog.Logger, resync time.Duration) {
	stateSyncLoop(ctx, src, "pod routes", func(st *cluster.State) []runtime.Route { return podRoutes(st, self) },
		slices.Equal[[]runtime.Route], sync, log, resync)
}

// stateSyncLoop keeps something on the node (routes, node-port rules) in
// step with what want computes from the state, until ctx ends: it syncs
// on start, when want's answer changes, after a failure (retried with
// backoff) and every resync, to repair drift.
func stateSyncLoop[T any](ctx context.Context, src routeSource, what string, want func(*cluster.State) T, equal func(a, b T) bool,
	sync func(context.Context, T) error, log *slog.Logger, resync time.Duration) {
	var applied T
	ok := false
	backoff := time.Second
	tick := time.NewTicker(resync)
	defer tick.Stop()
	var retry <-chan time.Time
	for {
		ch := src.Changed()
		w := want(src.State())
		if !ok || !equal(w, applied) {
			start := time.Now()
			if err := sync(ctx, w); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("sync "+what, "err", err, "retry_in", backoff)
				ok = false
				retry = time.After(backoff)
				backoff = min(2*backoff, time.Minute)
			} else {
				if !equal(w, applied) {
					log.Info(what+" synced", "took", time.Since(start))
				}
				applied, ok, backoff, retry = w, true, time.Second, nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-retry:
		case <-tick.C:
			ok = false // rewrite even if unchanged: repair drift
		}
	}
}
