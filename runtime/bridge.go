package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// EnsureBridge creates the node's pod bridge with the subnet's gateway
// address before any pod exists, so that the DNS server can listen there
// from the start (the CNI bridge plugin adopts the existing bridge). It
// needs no containerd, and returns the gateway IP.
func EnsureBridge(ctx context.Context, name, podCIDR string) (string, error) {
	return newHostNet().ensureBridge(ctx, name, podCIDR)
}

func (h *hostNet) ensureBridge(ctx context.Context, name, podCIDR string) (string, error) {
	prefix, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return "", fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	gw := prefix.Masked().Addr().Next()
	addr := fmt.Sprintf("%s/%d", gw, prefix.Bits())
	ip := func(args ...string) error {
		_, err := h.run(ctx, nil, "ip", args...)
		return err
	}
	if err := ip("link", "show", name); err != nil {
		if err := ip("link", "add", name, "type", "bridge"); err != nil {
			return "", fmt.Errorf("create pod bridge %s: %w", name, err)
		}
	}
	out, err := h.run(ctx, nil, "ip", "-o", "addr", "show", "dev", name)
	if err != nil {
		return "", fmt.Errorf("read addresses of %s: %w", name, err)
	}
	if !strings.Contains(string(out), " "+addr+" ") {
		if err := ip("addr", "add", addr, "dev", name); err != nil {
			return "", fmt.Errorf("give pod bridge %s address %s: %w", name, addr, err)
		}
	}
	if err := ip("link", "set", name, "up"); err != nil {
		return "", fmt.Errorf("bring pod bridge %s up: %w", name, err)
	}
	return gw.String(), nil
}
