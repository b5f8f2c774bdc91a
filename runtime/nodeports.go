package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// NodePort publishes one port of a NodePort or LoadBalancer Service on
// every address of this node (loopback excepted): a connection to it goes
// to one of Endpoints, picked at random, from the node's pod gateway
// address (the bridge's, inside the cluster CIDR: the pod's node accepts
// it as it accepts pod traffic, and the reply comes back through this
// node, wherever the pod runs).
type NodePort struct {
	// Protocol is TCP, UDP or SCTP.
	Protocol string
	Port     int32
	// Service names the port in the rules' comments: "ns/name:port".
	Service   string
	Endpoints []Endpoint
}

// Endpoint is a ready pod's address and port.
type Endpoint struct {
	IP   string
	Port int32
}

// nodePortMark marks a connection's first packet as node-port traffic, to
// be masqueraded and let through FORWARD. kube-proxy uses 0x4000 and
// 0x8000; this bit is Shoal's.
const nodePortMark = "0x1000/0x1000"

// nodePortRules are this node's node-port chains (names per bridge, like
// natRules'): nat's dnat (from PREROUTING and OUTPUT) sends connections to
// a node port to an endpoint, masq (from POSTROUTING) gives them source
// as their source; filter's forward lets them through on hosts whose
// FORWARD policy drops.
type nodePortRules struct {
	dnat, masq, forward string
	source              string
}

// newNodePortRules names the chains of the bridge whose pod subnet is
// podCIDR; the source is the subnet's gateway, the bridge's address (see
// EnsureBridge). podCIDR may be empty to clear the chains only.
func newNodePortRules(bridge, podCIDR string) (nodePortRules, error) {
	n := nodePortRules{
		dnat:    chainName("NODEPORTS", bridge),
		masq:    chainName("NPMASQ", bridge),
		forward: chainName("NPFWD", bridge),
	}
	if podCIDR == "" {
		return n, nil
	}
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || !p.Addr().Is4() {
		return n, fmt.Errorf("pod CIDR %q: not an IPv4 CIDR", podCIDR)
	}
	n.source = p.Masked().Addr().Next().String()
	return n, nil
}

func (n nodePortRules) jumps() []jump {
	return []jump{
		{table: "nat", from: "PREROUTING", to: n.dnat},
		{table: "nat", from: "OUTPUT", to: n.dnat},
		{table: "nat", from: "POSTROUTING", to: n.masq},
		{table: "filter", from: "FORWARD", to: n.forward, first: true},
	}
}

// restore is the iptables-restore input that replaces the three chains
// with the rules for ports, in one step.
func (n nodePortRules) restore(ports []NodePort) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n:%s - [0:0]\n", n.dnat, n.masq)
	// Only connections to this node's own addresses; loopback would need
	// route_localnet to leave the node, so 127.0.0.1 is not published.
	fmt.Fprintf(&b, "-A %s -m addrtype ! --dst-type LOCAL -j RETURN\n", n.dnat)
	fmt.Fprintf(&b, "-A %s -d 127.0.0.0/8 -j RETURN\n", n.dnat)
	var errs []error
	for _, p := range ports {
		if err := n.portRules(&b, p); err != nil {
			errs = append(errs, err)
		}
	}
	fmt.Fprintf(&b, "-A %s -m mark --mark %s -j SNAT --to-source %s\n", n.masq, nodePortMark, n.source)
	b.WriteString("COMMIT\n")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", n.forward)
	fmt.Fprintf(&b, "-A %s -m mark --mark %s -j ACCEPT\n", n.forward, nodePortMark)
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate DNAT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", n.forward)
	b.WriteString("COMMIT\n")
	return []byte(b.String()), errors.Join(errs...)
}

// portRules writes one port's rules: mark, then DNAT to endpoint i with
// probability 1/(n-i), which spreads connections evenly. A port without
// endpoints gets no rule: connections to it are refused by the node.
func (n nodePortRules) portRules(b *strings.Builder, p NodePort) error {
	proto := strings.ToLower(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" || p.Port < 1 || p.Port > 65535 {
		return fmt.Errorf("node port %s %d/%s: not a valid port", p.Service, p.Port, p.Protocol)
	}
	var eps []string
	for _, e := range p.Endpoints {
		ip, err := netip.ParseAddr(e.IP)
		if err != nil || !ip.Is4() || e.Port < 1 || e.Port > 65535 {
			return fmt.Errorf("node port %s %d: endpoint %s:%d is not an IPv4 address and port", p.Service, p.Port, e.IP, e.Port)
		}
		eps = append(eps, fmt.Sprintf("%s:%d", ip, e.Port))
	}
	if len(eps) == 0 {
		return nil
	}
	match := fmt.Sprintf("-A %s -p %s -m %s --dport %d -m comment --comment %q", n.dnat, proto, proto, p.Port, p.Service)
	fmt.Fprintf(b, "%s -j MARK --set-xmark %s\n", match, nodePortMark)
	for i, ep := range eps {
		if left := len(eps) - i; left > 1 {
			fmt.Fprintf(b, "%s -m statistic --mode random --probability %0.10f -j DNAT --to-destination %s\n", match, 1/float64(left), ep)
		} else {
			fmt.Fprintf(b, "%s -j DNAT --to-destination %s\n", match, ep)
		}
	}
	return nil
}

// SyncNodePorts makes this node publish exactly ports (see NodePort),
// replacing the rules of the last call in one step. Ports it cannot
// write (a bad endpoint) are reported and the others published.
func (r *Runtime) SyncNodePorts(ctx context.Context, ports []NodePort) error {
	n, err := newNodePortRules(r.cfg.CNI.BridgeName, r.cfg.CNI.PodCIDR)
	if err != nil {
		return fmt.Errorf("sync node ports: %w", err)
	}
	return r.cni.host.syncNodePorts(ctx, n, ports)
}

// ClearNodePorts removes the node-port rules, for an agent that leaves the
// node for good.
func (r *Runtime) ClearNodePorts(ctx context.Context) error {
	return r.cni.host.clearChains(ctx, nodePortJumps(r.cfg.CNI.BridgeName), "node port rules")
}

// nodePortJumps are the hooks of a bridge's node-port chains.
func nodePortJumps(bridge string) []jump {
	n, _ := newNodePortRules(bridge, "")
	return n.jumps()
}

func (h *hostNet) syncNodePorts(ctx context.Context, n nodePortRules, ports []NodePort) error {
	if n.source == "" {
		return errors.New("sync node ports: no pod gateway address to give connections as their source")
	}
	rules, bad := n.restore(ports)
	h.mu.Lock()
	defer h.mu.Unlock()
	// Forwarding to pods needs it, and this may run before any pod's
	// network (which turns it on too) is set up.
	if err := h.sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	if err := h.writeChains(ctx, rules, n.jumps()); err != nil {
		return fmt.Errorf("write node port rules: %w", err)
	}
	return bad
}
