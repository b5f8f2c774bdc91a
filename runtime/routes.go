package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Route sends another node's pod subnet through that node's address
// (host-gw: the nodes share a link, so the next hop is the node itself).
type Route struct {
	CIDR string // the other node's PodCIDR, e.g. 10.88.2.0/24
	Via  string // the other node's address, e.g. 192.168.1.12
}

// RouteProtocol is the routing protocol number ("proto 83" in `ip route`)
// that marks the routes Shoal owns. A restarted agent finds its stale
// routes by it, and deleting with it set makes the kernel refuse to touch
// a route someone else added for the same destination. 83 ('S') is not
// assigned in iproute2's rt_protos.
const RouteProtocol = 83

// SyncRoutes makes the routes this node owns exactly routes: missing ones
// are added, changed ones replaced, owned ones not listed deleted. Routes
// of other owners are never changed: a destination already routed by
// someone else is skipped and reported. It is idempotent and cheap when
// nothing changed (one `ip route show`).
func (r *Runtime) SyncRoutes(ctx context.Context, routes []Route) error {
	return r.cni.host.syncRoutes(ctx, routes)
}

// ClearRoutes deletes every route this node owns (see RouteProtocol).
func (r *Runtime) ClearRoutes(ctx context.Context) error {
	return r.cni.host.syncRoutes(ctx, nil)
}

// EnsureNAT installs the pod NAT and forwarding rules (see ensureNAT) when
// the runtime has a ClusterCIDR; pod setup calls it on its own, the agent
// may call it at start to repair rules without waiting for a pod.
func (r *Runtime) EnsureNAT(ctx context.Context) error { return r.cni.ensureNAT(ctx) }

// ClearNAT removes the pod NAT and forwarding rules of this runtime's
// bridge, for an agent that leaves the node for good. Pods still running
// lose their way out until EnsureNAT runs again.
func (r *Runtime) ClearNAT(ctx context.Context) error { return r.cni.clearNAT(ctx) }

// ClearBridgeNAT removes the NAT, forwarding and service rules that a
// Runtime installed for the pod bridge named bridge, without a Runtime: for a node
// that is gone for good (an uninstall, a test's cleanup). A running agent's
// rules stay while it may still run pods.
func ClearBridgeNAT(ctx context.Context, bridge string) error {
	h := newHostNet()
	return errors.Join(
		h.clearNAT(ctx, natRules{
			postrouting: chainName("POSTROUTING", bridge),
			forward:     chainName("FORWARD", bridge),
		}),
		h.clearServices(ctx, bridge))
}

// hostNet changes the node's routes and iptables rules. Every change goes
// through run and sysctl so that tests can aim them at a network namespace
// (run prefixed with `ip netns exec NS`).
type hostNet struct {
	// run runs a command with stdin (may be nil) and returns its combined
	// output; the error carries the output.
	run func(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
	// sysctl sets a sysctl by its dotted key.
	sysctl func(key, value string) error
	// mu serialises changes: the route loop and pod setup both write.
	mu sync.Mutex
}

func newHostNet() *hostNet { return &hostNet{run: runCommand, sysctl: writeSysctl} }

func runCommand(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// writeSysctl writes /proc/sys only when the value differs, so that a
// node whose /proc/sys is read-only (a container) but already set works.
func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", key, value, err)
	}
	return nil
}

// ipRoute is one route of `ip -j route show`.
type ipRoute struct {
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Metric  int    `json:"metric"`
}

// listRoutes lists IPv4 routes of the main table; with owned, only ours.
func (h *hostNet) listRoutes(ctx context.Context, owned bool) ([]ipRoute, error) {
	args := []string{"-j", "-4", "route", "show", "table", "main"}
	if owned {
		args = append(args, "proto", fmt.Sprint(RouteProtocol))
	}
	out, err := h.run(ctx, nil, "ip", args...)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var rs []ipRoute
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("list routes: parse `ip -j route`: %w", err)
	}
	return rs, nil
}

// normalizeRoutes validates routes and keys them by masked destination.
func normalizeRoutes(routes []Route) (map[string]string, error) {
	want := map[string]string{}
	var errs []error
	for _, rt := range routes {
		p, err := netip.ParsePrefix(rt.CIDR)
		if err != nil || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("route %s via %s: bad IPv4 CIDR", rt.CIDR, rt.Via))
			continue
		}
		via, err := netip.ParseAddr(rt.Via)
		if err != nil || !via.Is4() {
			errs = append(errs, fmt.Errorf("route %s via %s: bad IPv4 gateway", rt.CIDR, rt.Via))
			continue
		}
		dst := p.Masked().String()
		if prev, ok := want[dst]; ok && prev != via.String() {
			errs = append(errs, fmt.Errorf("route %s: two gateways, %s and %s", dst, prev, via))
			continue
		}
		want[dst] = via.String()
	}
	return want, errors.Join(errs...)
}

// routeKey is how `ip -j` names a destination: a host route has no "/32".
func routeKey(dst string) string {
	if p, err := netip.ParsePrefix(dst); err == nil {
		return p.Masked().String()
	}
	if a, err := netip.ParseAddr(dst); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return dst
}

func (h *hostNet) syncRoutes(ctx context.Context, routes []Route) error {
	want, err := normalizeRoutes(routes)
	errs := []error{err}
	h.mu.Lock()
	defer h.mu.Unlock()
	owned, err := h.listRoutes(ctx, true)
	if err != nil {
		return fmt.Errorf("sync routes: %w", err)
	}
	have := map[string]string{}
	for _, rt := range owned {
		have[routeKey(rt.Dst)] = rt.Gateway
	}
	// Delete first: a node's subnet may move to a new owner in one change.
	for dst := range have {
		if _, ok := want[dst]; ok {
			continue
		}
		// proto makes the kernel delete only our route to dst.
		if _, err := h.run(ctx, nil, "ip", "-4", "route", "del", dst, "table", "main", "proto", fmt.Sprint(RouteProtocol)); err != nil {
			errs = append(errs, fmt.Errorf("delete route %s: %w", dst, err))
		}
	}
	var todo []string
	for dst, via := range want {
		if have[dst] != via {
			todo = append(todo, dst)
		}
	}
	if len(todo) > 0 {
		slices.Sort(todo)
		// `replace` would overwrite a route of another owner to the same
		// destination and metric; find those and leave them alone.
		all, err := h.listRoutes(ctx, false)
		if err != nil {
			return fmt.Errorf("sync routes: %w", errors.Join(append(errs, err)...))
		}
		foreign := map[string]bool{}
		for _, rt := range all {
			k := routeKey(rt.Dst)
			if _, ours := have[k]; !ours && rt.Metric == 0 {
				foreign[k] = true
			}
		}
		for _, dst := range todo {
			if foreign[dst] {
				errs = append(errs, fmt.Errorf("route %s via %s: destination already routed by another owner, left alone", dst, want[dst]))
				continue
			}
			if _, err := h.run(ctx, nil, "ip", "-4", "route", "replace", dst, "via", want[dst], "table", "main", "proto", fmt.Sprint(RouteProtocol)); err != nil {
				errs = append(errs, fmt.Errorf("route %s via %s: %w", dst, want[dst], err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sync routes: %w", err)
	}
	return nil
}

// iptables chain names are at most 28 characters.
const maxChainLen = 28

// chainName is SHOAL-<what>-<bridge>, with the bridge shortened by a hash
// when the whole would not fit, so that every bridge has its own chains.
func chainName(what, bridge string) string {
	name := "SHOAL-" + what + "-" + bridge
	if len(name) <= maxChainLen {
		return name
	}
	sum := sha256.Sum256([]byte(bridge))
	h := hex.EncodeToString(sum[:])[:6]
	keep := maxChainLen - len("SHOAL-"+what+"-") - len(h) - 1
	return "SHOAL-" + what + "-" + bridge[:max(keep, 0)] + "-" + h
}

// natRules are the rules of this node's pod chains, table → chain → rules:
//   - nat: pods' traffic leaving the cluster CIDR is masqueraded to the
//     node's address, traffic to other pods keeps the pod IP (host-gw).
//   - filter: forwarding for pod traffic, for hosts whose FORWARD policy is
//     DROP (Docker sets it): pods may send anywhere (as the CNI firewall
//     plugin allows per pod), pods of other nodes may connect to ours, and
//     replies come back.
type natRules struct {
	postrouting, forward string // chain names
	podCIDR, clusterCIDR string
}

func newNATRules(bridge, podCIDR, clusterCIDR string) (natRules, error) {
	pod, err := netip.ParsePrefix(podCIDR)
	if err != nil || !pod.Addr().Is4() {
		return natRules{}, fmt.Errorf("pod CIDR %q: not an IPv4 CIDR", podCIDR)
	}
	cl, err := netip.ParsePrefix(clusterCIDR)
	if err != nil || !cl.Addr().Is4() {
		return natRules{}, fmt.Errorf("cluster CIDR %q: not an IPv4 CIDR", clusterCIDR)
	}
	pod, cl = pod.Masked(), cl.Masked()
	if !cl.Contains(pod.Addr()) || pod.Bits() < cl.Bits() {
		return natRules{}, fmt.Errorf("pod CIDR %s is not inside cluster CIDR %s", pod, cl)
	}
	return natRules{
		postrouting: chainName("POSTROUTING", bridge),
		forward:     chainName("FORWARD", bridge),
		podCIDR:     pod.String(),
		clusterCIDR: cl.String(),
	}, nil
}

// restore is iptables-restore input that replaces the contents of our two
// chains in one step (with --noflush a declared chain is flushed, other
// chains are left as they are), so no packet sees half the rules.
func (n natRules) restore() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", n.postrouting)
	fmt.Fprintf(&b, "-A %s -s %s ! -d %s -j MASQUERADE\n", n.postrouting, n.podCIDR, n.clusterCIDR)
	b.WriteString("COMMIT\n")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", n.forward)
	fmt.Fprintf(&b, "-A %s -s %s -j ACCEPT\n", n.forward, n.podCIDR)
	fmt.Fprintf(&b, "-A %s -s %s -d %s -j ACCEPT\n", n.forward, n.clusterCIDR, n.podCIDR)
	fmt.Fprintf(&b, "-A %s -d %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", n.forward, n.podCIDR)
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

// jump is where a chain is hooked in: table, built-in chain, and whether
// the jump goes first (FORWARD: ahead of DROP rules others append) or last
// (POSTROUTING: after the CNI chains, so their hairpin masquerade still
// runs; ours only matches what they leave alone).
//
// top: ahead of Shoal's own jumps too. The Service REJECT rules must see
// a pod's packet before the pod network's forward chain accepts it; with
// "first" alone their order was whichever was hooked in last.
type jump struct {
	table, from, to string
	first, top      bool
}

func (n natRules) jumps() []jump {
	return []jump{
		{table: "nat", from: "POSTROUTING", to: n.postrouting},
		{table: "filter", from: "FORWARD", to: n.forward, first: true},
	}
}

func (h *hostNet) iptables(ctx context.Context, args ...string) error {
	_, err := h.run(ctx, nil, "iptables", append([]string{"-w", "5"}, args...)...)
	return err
}

// ensureNAT enables forwarding, writes our chains and hooks them in. It
// is idempotent: the chains are rewritten, a jump is added when missing.
func (h *hostNet) ensureNAT(ctx context.Context, n natRules) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	if err := h.writeChains(ctx, n.restore(), n.jumps()); err != nil {
		return fmt.Errorf("write pod NAT chains %s, %s: %w", n.postrouting, n.forward, err)
	}
	return nil
}

// writeChains replaces the contents of the chains that rules declares (in
// one iptables-restore) and hooks in the jumps that are missing. The
// caller holds h.mu.
func (h *hostNet) writeChains(ctx context.Context, rules []byte, jumps []jump) error {
	if _, err := h.run(ctx, rules, "iptables-restore", "-w", "5", "--noflush"); err != nil {
		return err
	}
	for _, j := range jumps {
		if j.first {
			if err := h.jumpFirst(ctx, j); err != nil {
				return err
			}
			continue
		}
		if h.iptables(ctx, "-t", j.table, "-C", j.from, "-j", j.to) == nil {
			continue
		}
		op := []string{"-A", j.from}
		if err := h.iptables(ctx, append(append([]string{"-t", j.table}, op...), "-j", j.to)...); err != nil {
			return fmt.Errorf("hook %s into %s %s: %w", j.to, j.table, j.from, err)
		}
	}
	return nil
}

// jumpFirst makes sure j is ahead of every rule in its built-in chain
// that is not one of Shoal's own jumps: software that inserts its rules
// at the top later (the CNI firewall plugin's CNI-FORWARD, on the first
// pod) would otherwise accept what ours must refuse. A jump out of place
// is moved to the top.
func (h *hostNet) jumpFirst(ctx context.Context, j jump) error {
	out, err := h.run(ctx, nil, "iptables", "-w", "5", "-t", j.table, "-S", j.from)
	if err != nil {
		return fmt.Errorf("list %s %s: %w", j.table, j.from, err)
	}
	if jumpLeads(string(out), j) {
		return nil
	}
	for h.iptables(ctx, "-t", j.table, "-C", j.from, "-j", j.to) == nil {
		if err := h.iptables(ctx, "-t", j.table, "-D", j.from, "-j", j.to); err != nil {
			return fmt.Errorf("move %s to the top of %s %s: %w", j.to, j.table, j.from, err)
		}
	}
	if err := h.iptables(ctx, "-t", j.table, "-I", j.from, "1", "-j", j.to); err != nil {
		return fmt.Errorf("hook %s into %s %s: %w", j.to, j.table, j.from, err)
	}
	return nil
}

// jumpLeads reports whether the rules of j's built-in chain in rules
// (`iptables -S` or iptables-save lines; others are skipped) have j's
// jump before any rule other than a jump to a SHOAL- chain.
func jumpLeads(rules string, j jump) bool {
	want := "-A " + j.from + " -j " + j.to
	for _, l := range strings.Split(rules, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case !strings.HasPrefix(l, "-A "+j.from+" "):
		case l == want:
			return true
		case j.top && strings.HasPrefix(l, "-A "):
			return false
		case strings.HasPrefix(l, "-A "+j.from+" -j SHOAL-") && !strings.Contains(strings.TrimPrefix(l, "-A "+j.from+" -j "), " "):
		case strings.HasPrefix(l, "-A "):
			return false
		}
	}
	return false
}

// clearNAT unhooks and deletes our chains; missing ones are fine.
// Forwarding stays enabled: other software may rely on it.
func (h *hostNet) clearNAT(ctx context.Context, n natRules) error {
	return h.clearChains(ctx, n.jumps(), "pod NAT rules")
}

// clearChains unhooks and deletes the chains of jumps; missing ones are
// fine. A chain hooked in twice (from PREROUTING and OUTPUT) is deleted
// once its last jump is gone.
func (h *hostNet) clearChains(ctx context.Context, jumps []jump, what string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, j := range jumps {
		if h.iptables(ctx, "-t", j.table, "-S", j.to) != nil {
			continue // no chain, so no jump to it either
		}
		// Remove every copy of the jump (a crash between -C and -A of two
		// agents could have left two).
		for h.iptables(ctx, "-t", j.table, "-C", j.from, "-j", j.to) == nil {
			if err := h.iptables(ctx, "-t", j.table, "-D", j.from, "-j", j.to); err != nil {
				errs = append(errs, fmt.Errorf("unhook %s: %w", j.to, err))
				break
			}
		}
	}
	deleted := map[string]bool{}
	for _, j := range jumps {
		k := j.table + " " + j.to
		if deleted[k] || h.iptables(ctx, "-t", j.table, "-S", j.to) != nil {
			continue
		}
		deleted[k] = true
		if err := h.iptables(ctx, "-t", j.table, "-F", j.to); err != nil {
			errs = append(errs, fmt.Errorf("flush %s: %w", j.to, err))
		}
		if err := h.iptables(ctx, "-t", j.table, "-X", j.to); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", j.to, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clear %s: %w", what, err)
	}
	return nil
}
