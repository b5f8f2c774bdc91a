package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
)

// leaderWriter commits this agent's own writes (its node record, its pods'
// statuses): through the local store when it leads, else through the
// leader's API, found in the replicated state.
type leaderWriter struct {
	store *consensus.Store
	// http carries this node's certificate, its only credential; it is
	// shared so that status reports every few hundred milliseconds reuse
	// their connection to the leader.
	http *http.Client
}

// leaderClient returns a client for the leader's API.
func (w *leaderWriter) leaderClient() (*apiclient.Client, error) {
	_, id := w.store.Leader()
	if id == "" {
		return nil, fmt.Errorf("%w: no leader known yet", consensus.ErrNotLeader)
	}
	n, ok := w.store.State().Node(id)
	if !ok || n.APIAddr == "" {
		return nil, fmt.Errorf("%w: the API address of leader %s is not known yet", consensus.ErrNotLeader, id)
	}
	return &apiclient.Client{Addr: n.APIAddr, HTTP: w.http}, nil
}

// apply commits cmd locally when this agent leads; otherwise remote does
// the same through the leader's API.
func (w *leaderWriter) apply(ctx context.Context, cmd consensus.Command, remote func(*apiclient.Client) error) error {
	res, err := w.store.Apply(ctx, cmd)
	if err == nil {
		return res[0].Err
	}
	if !errors.Is(err, consensus.ErrNotLeader) {
		return err
	}
	c, cerr := w.leaderClient()
	if cerr != nil {
		return cerr
	}
	return remote(c)
}

func (w *leaderWriter) putNode(ctx context.Context, n *cluster.Node) error {
	return w.apply(ctx, &consensus.PutNode{Node: n}, func(c *apiclient.Client) error { return c.RegisterNode(ctx, n) })
}

// ReportStatus implements node.Reporter.
func (w *leaderWriter) ReportStatus(ctx context.Context, nodeName string, updates []cluster.PodStatusUpdate) error {
	cmd := &consensus.PodStatus{Node: nodeName, Updates: updates}
	err := w.apply(ctx, cmd, func(c *apiclient.Client) error { return c.ReportStatus(ctx, cmd) })
	if err != nil {
		return fmt.Errorf("report pod status: %w", err)
	}
	return nil
}

// forgetClaims commits a node's ForgetClaims.
func (w *leaderWriter) forgetClaims(ctx context.Context, cmd *consensus.ForgetClaims) error {
	return w.apply(ctx, cmd, func(c *apiclient.Client) error { return c.ForgetClaims(ctx, cmd) })
}

// renewLease asks the leader to renew this node's fencing lease.
func (w *leaderWriter) renewLease(ctx context.Context, node string) (uint64, error) {
	c, err := w.leaderClient()
	if err != nil {
		return 0, err
	}
	return c.RenewLease(ctx, node)
}
