package agent

import (
	"context"
	"fmt"
	"log/slog"

	"shoal/runtime/memrt"
)

// RunInMemory runs the agent as Run does, on a machine held in memory:
// pods run in rt (memrt: no containers, no pod network, nothing on the
// host), and the DNS server pods would use listens on podDNS
// (HOST:PORT). The simulation (sim/agentsim) runs many agents in one
// process this way, with everything else real: Raft, gossip, the state
// stream, the API, DNS, the node reconciler.
func RunInMemory(ctx context.Context, cfg Config, rt *memrt.Runtime, podDNS string) error {
	return run(ctx, cfg, &memMachine{rt: rt, podDNS: podDNS})
}

// memMachine is a machine with no pod bridge: pods' DNS server listens on
// podDNS, and pods run in rt.
type memMachine struct {
	rt     *memrt.Runtime
	podDNS string
	// daemon is the containerd the agent supervises; nil: none (as with
	// --containerd).
	daemon runtimeDaemon
}

func (m *memMachine) podNetwork(context.Context, Config, string) (string, error) {
	return m.podDNS, nil
}

// guardLease: the in-memory pods end with the process, so nothing
// outlives the agent to be fenced.
func (m *memMachine) guardLease(context.Context, Config, *slog.Logger) (leaseGuard, bool) {
	return nil, false
}

func (m *memMachine) startRuntime(_ context.Context, rc runtimeConfig, onStop func(func())) (nodeRuntime, runtimeDaemon, error) {
	if rc.podCIDR == "" || rc.domain == "" || rc.nameserver == "" {
		return nil, nil, fmt.Errorf("runtime started without the cluster's settings: %+v", rc)
	}
	if err := m.rt.SetPodCIDR(rc.podCIDR); err != nil {
		return nil, nil, err
	}
	onStop(func() { _ = m.rt.Close() })
	return m.rt, m.daemon, nil
}
