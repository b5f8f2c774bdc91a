package runtime

import "context"

// HostNet exposes the route and NAT code to the external tests, aimed by
// run and sysctl at a network namespace of their own.
type HostNet struct {
	h   *hostNet
	nat natRules
}

// NewHostNet returns a HostNet for the given bridge and subnets whose
// commands go through run and whose sysctls go through sysctl.
func NewHostNet(run func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error), sysctl func(key, value string) error, bridge, podCIDR, clusterCIDR string) (*HostNet, error) {
	n, err := newNATRules(bridge, podCIDR, clusterCIDR)
	if err != nil {
		return nil, err
	}
	return &HostNet{h: &hostNet{run: run, sysctl: sysctl}, nat: n}, nil
}

func (t *HostNet) SyncRoutes(ctx context.Context, rs []Route) error { return t.h.syncRoutes(ctx, rs) }
func (t *HostNet) ClearRoutes(ctx context.Context) error            { return t.h.syncRoutes(ctx, nil) }
func (t *HostNet) EnsureNAT(ctx context.Context) error              { return t.h.ensureNAT(ctx, t.nat) }
func (t *HostNet) ClearNAT(ctx context.Context) error               { return t.h.clearNAT(ctx, t.nat) }

// SyncNodePorts and ClearNodePorts are the node-port rules of the bridge.
func (t *HostNet) SyncNodePorts(ctx context.Context, bridge string, ports []NodePort) error {
	n, err := newNodePortRules(bridge, t.nat.podCIDR)
	if err != nil {
		return err
	}
	return t.h.syncNodePorts(ctx, n, ports)
}

func (t *HostNet) ClearNodePorts(ctx context.Context, bridge string) error {
	return t.h.clearChains(ctx, nodePortJumps(bridge), "node port rules")
}

// RunCommand and WriteSysctl are the host's implementations.
var (
	RunCommand  = runCommand
	WriteSysctl = writeSysctl
)
