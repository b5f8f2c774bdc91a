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

// SyncServices and ClearServices are the service rules of the bridge.
func (t *HostNet) SyncServices(ctx context.Context, bridge string, ports []ServicePort) error {
	n, err := newServiceRules(bridge, t.nat.podCIDR, t.nat.clusterCIDR)
	if err != nil {
		return err
	}
	return t.h.syncServices(ctx, n, ports)
}

func (t *HostNet) ClearServices(ctx context.Context, bridge string) error {
	return t.h.clearServices(ctx, bridge)
}

// RunCommand and WriteSysctl are the host's implementations.
var (
	RunCommand  = runCommand
	WriteSysctl = writeSysctl
)
