package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// ensureBridge creates the node's pod bridge with the subnet's gateway
// address before any pod exists, so that the DNS server can listen there
// from the start (the CNI bridge plugin adopts the existing bridge). It
// returns the gateway IP.
func ensureBridge(ctx context.Context, name, podCIDR string) (string, error) {
	prefix, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return "", fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	gw := prefix.Masked().Addr().Next()
	addr := fmt.Sprintf("%s/%d", gw, prefix.Bits())
	if err := ip(ctx, "link", "show", name); err != nil {
		if err := ip(ctx, "link", "add", name, "type", "bridge"); err != nil {
			return "", fmt.Errorf("create pod bridge %s: %w", name, err)
		}
	}
	out, err := exec.CommandContext(ctx, "ip", "-o", "addr", "show", "dev", name).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("read addresses of %s: %v: %s", name, err, out)
	}
	if !strings.Contains(string(out), " "+addr+" ") {
		if err := ip(ctx, "addr", "add", addr, "dev", name); err != nil {
			return "", fmt.Errorf("give pod bridge %s address %s: %w", name, addr, err)
		}
	}
	if err := ip(ctx, "link", "set", name, "up"); err != nil {
		return "", fmt.Errorf("bring pod bridge %s up: %w", name, err)
	}
	return gw.String(), nil
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
