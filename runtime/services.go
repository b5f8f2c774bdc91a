package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
)

// ServicePort is one port of a Service as every node serves it, the way
// kube-proxy's iptables mode does: connections to ClusterIP:Port (from
// pods, from the node itself) and, when NodePort is set, to the node
// port on any address of this node (loopback excepted) go to one of
// Endpoints, picked at random, or to the one a client last used when
// AffinitySeconds is set.
type ServicePort struct {
	// Service names the port in the rules' comments and chain names:
	// "ns/name:port".
	Service string
	// Protocol is TCP, UDP or SCTP.
	Protocol string
	// ClusterIP is the Service's virtual IP ("" for none) and Port the
	// port on it.
	ClusterIP string
	Port      int32
	// NodePort is published on this node's addresses (0: none).
	NodePort  int32
	Endpoints []Endpoint
	// AffinitySeconds keeps a client on the endpoint its last connection
	// went to, for that long after it (ClientIP session affinity; 0: none).
	AffinitySeconds int32
	// NodeLocal sends node-port connections only to the endpoints on this
	// node, with the client's address kept (externalTrafficPolicy Local);
	// without one, the node port refuses connections.
	NodeLocal bool
}

// Endpoint is a pod behind a service port: its address and port, and
// whether it runs on this node.
type Endpoint struct {
	IP    string
	Port  int32
	Local bool
}

// masqMark marks a connection's first packet to be given the pod
// gateway's address as its source: node-port traffic, a pod reaching
// itself through its Service (hairpin), and cluster IP traffic from
// outside the cluster CIDR. kube-proxy uses 0x4000 and 0x8000; this bit
// is Shoal's.
const masqMark = "0x1000/0x1000"

// localMark lets a node-port connection of externalTrafficPolicy Local
// through FORWARD without masquerade: its pod sees the client's address.
const localMark = "0x2000/0x2000"

// serviceRules are this node's service chains (names per bridge, like
// natRules'). Fixed chains: nat's svcs (cluster IPs) and dnat (node
// ports), both from PREROUTING and OUTPUT; masq (from POSTROUTING) gives
// marked connections source as their source; filter's forward lets
// node-port traffic through on hosts whose FORWARD policy drops, and
// reject (from FORWARD and OUTPUT) refuses connections to a cluster IP
// port without endpoints. Per service port and endpoint, chains named by
// dynamicChain balance and DNAT (kube-proxy's KUBE-SVC-, KUBE-SEP-).
type serviceRules struct {
	svcs, dnat, masq, forward, reject string
	// dyn is the prefix of this bridge's per-service chains.
	dyn string
	// source is the bridge's address, cluster the cluster CIDR (traffic
	// from outside it to a cluster IP is masqueraded).
	source, cluster string
}

// newServiceRules names the chains of the bridge whose pod subnet is
// podCIDR in cluster CIDR clusterCIDR; the source is the subnet's
// gateway, the bridge's address (see EnsureBridge). podCIDR may be empty
// to clear the chains only.
func newServiceRules(bridge, podCIDR, clusterCIDR string) (serviceRules, error) {
	sum := sha256.Sum256([]byte(bridge))
	n := serviceRules{
		svcs:    chainName("SERVICES", bridge),
		dnat:    chainName("NODEPORTS", bridge),
		masq:    chainName("NPMASQ", bridge),
		forward: chainName("NPFWD", bridge),
		reject:  chainName("SVCREJ", bridge),
		dyn:     hex.EncodeToString(sum[:2]),
	}
	if podCIDR == "" {
		return n, nil
	}
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || !p.Addr().Is4() {
		return n, fmt.Errorf("pod CIDR %q: not an IPv4 CIDR", podCIDR)
	}
	n.source = p.Masked().Addr().Next().String()
	n.cluster = p.Masked().String()
	if clusterCIDR != "" {
		c, err := netip.ParsePrefix(clusterCIDR)
		if err != nil || !c.Addr().Is4() {
			return n, fmt.Errorf("cluster CIDR %q: not an IPv4 CIDR", clusterCIDR)
		}
		n.cluster = c.Masked().String()
	}
	return n, nil
}

// dynamicChain names a per-service chain: SHOAL-<kind><bridge hash>-<key
// hash>, 28 characters, lower-case hex so that it never meets a fixed
// chain's name. kind is S (a service port), L (its node-local endpoints)
// or E (an endpoint).
func (n serviceRules) dynamicChain(kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "SHOAL-" + kind + n.dyn + "-" + hex.EncodeToString(sum[:8])
}

// ownsChain reports whether chain is one of this bridge's per-service
// chains.
func (n serviceRules) ownsChain(chain string) bool {
	for _, k := range []string{"S", "L", "E"} {
		if strings.HasPrefix(chain, "SHOAL-"+k+n.dyn+"-") && len(chain) == maxChainLen {
			return true
		}
	}
	return false
}

func (n serviceRules) jumps() []jump {
	return []jump{
		{table: "nat", from: "PREROUTING", to: n.svcs},
		{table: "nat", from: "OUTPUT", to: n.svcs},
		{table: "nat", from: "PREROUTING", to: n.dnat},
		{table: "nat", from: "OUTPUT", to: n.dnat},
		{table: "nat", from: "POSTROUTING", to: n.masq},
		{table: "filter", from: "FORWARD", to: n.forward, first: true},
		{table: "filter", from: "FORWARD", to: n.reject, first: true, top: true},
		{table: "filter", from: "OUTPUT", to: n.reject, first: true, top: true},
	}
}

// restoreText collects the rules of one restore: chain declarations
// (each once), nat and filter rules.
type restoreText struct {
	decl, nat, filter strings.Builder
	declared          map[string]bool
}

func (t *restoreText) declare(chain string) {
	if t.declared[chain] {
		return
	}
	t.declared[chain] = true
	fmt.Fprintf(&t.decl, ":%s - [0:0]\n", chain)
}

// restore is the iptables-restore input that replaces every chain with
// the rules for ports, in one step; existing lists the nat chains there
// now, so that this bridge's per-service chains no longer needed are
// deleted in the same step.
func (n serviceRules) restore(ports []ServicePort, existing []string) ([]byte, error) {
	t := &restoreText{declared: map[string]bool{}}
	t.declare(n.svcs)
	t.declare(n.dnat)
	t.declare(n.masq)
	// Only connections to this node's own addresses; loopback would need
	// route_localnet to leave the node, so 127.0.0.1 is not published.
	fmt.Fprintf(&t.nat, "-A %s -m addrtype ! --dst-type LOCAL -j RETURN\n", n.dnat)
	fmt.Fprintf(&t.nat, "-A %s -d 127.0.0.0/8 -j RETURN\n", n.dnat)
	var errs []error
	for _, p := range ports {
		if err := n.portRules(t, p); err != nil {
			errs = append(errs, err)
		}
	}
	fmt.Fprintf(&t.nat, "-A %s -m mark --mark %s -j SNAT --to-source %s\n", n.masq, masqMark, n.source)
	var b strings.Builder
	b.WriteString("*nat\n")
	stale := n.stale(t, existing)
	b.WriteString(t.decl.String())
	b.WriteString(t.nat.String())
	for _, c := range stale {
		fmt.Fprintf(&b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n")
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n:%s - [0:0]\n", n.forward, n.reject)
	fmt.Fprintf(&b, "-A %s -m mark --mark %s -j ACCEPT\n", n.forward, masqMark)
	fmt.Fprintf(&b, "-A %s -m mark --mark %s -j ACCEPT\n", n.forward, localMark)
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate DNAT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", n.forward)
	b.WriteString(t.filter.String())
	b.WriteString("COMMIT\n")
	return []byte(b.String()), errors.Join(errs...)
}

// stale declares (which flushes) and returns, sorted, this bridge's
// per-service chains in existing that t does not use: iptables deletes a
// chain only once nothing jumps to it, and the fixed chains that did are
// rewritten in the same restore.
func (n serviceRules) stale(t *restoreText, existing []string) []string {
	var out []string
	for _, c := range existing {
		if n.ownsChain(c) && !t.declared[c] {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	for _, c := range out {
		t.declare(c)
	}
	return out
}

// clearRestore empties the fixed nat chains and deletes the per-service
// ones in existing, so that the fixed chains can be unhooked and deleted.
func (n serviceRules) clearRestore(existing []string) []byte {
	t := &restoreText{declared: map[string]bool{}}
	t.declare(n.svcs)
	t.declare(n.dnat)
	stale := n.stale(t, existing)
	var b strings.Builder
	b.WriteString("*nat\n")
	b.WriteString(t.decl.String())
	for _, c := range stale {
		fmt.Fprintf(&b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

// checkPort validates p and returns its protocol in iptables' spelling
// and its endpoints as IP:port.
func checkPort(p ServicePort) (string, []Endpoint, error) {
	proto := strings.ToLower(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", nil, fmt.Errorf("service %s: protocol %q is not TCP, UDP or SCTP", p.Service, p.Protocol)
	}
	if p.ClusterIP != "" {
		if ip, err := netip.ParseAddr(p.ClusterIP); err != nil || !ip.Is4() || p.Port < 1 || p.Port > 65535 {
			return "", nil, fmt.Errorf("service %s: cluster IP %s port %d is not an IPv4 address and port", p.Service, p.ClusterIP, p.Port)
		}
	}
	if p.NodePort < 0 || p.NodePort > 65535 {
		return "", nil, fmt.Errorf("service %s: node port %d is not a valid port", p.Service, p.NodePort)
	}
	eps := make([]Endpoint, 0, len(p.Endpoints))
	for _, e := range p.Endpoints {
		ip, err := netip.ParseAddr(e.IP)
		if err != nil || !ip.Is4() || e.Port < 1 || e.Port > 65535 {
			return "", nil, fmt.Errorf("service %s: endpoint %s:%d is not an IPv4 address and port", p.Service, e.IP, e.Port)
		}
		e.IP = ip.String()
		eps = append(eps, e)
	}
	return proto, eps, nil
}

// portRules writes one service port's rules. A cluster IP port without
// endpoints is refused (filter); a node port without endpoints gets no
// rule and is refused by the node.
func (n serviceRules) portRules(t *restoreText, p ServicePort) error {
	proto, eps, err := checkPort(p)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s/%s/%s:%d/%d", p.Service, proto, p.ClusterIP, p.Port, p.NodePort)
	epChains := make([]string, len(eps))
	for i, e := range eps {
		epChains[i] = n.dynamicChain("E", fmt.Sprintf("%s>%s:%d", key, e.IP, e.Port))
	}
	if p.ClusterIP != "" {
		match := fmt.Sprintf("-d %s/32 -p %s -m %s --dport %d -m comment --comment %q", p.ClusterIP, proto, proto, p.Port, p.Service+" cluster IP")
		if len(eps) == 0 {
			// A reset refuses a TCP connection at once; the ICMP error
			// kube-proxy sends is not always taken as one.
			with := "icmp-port-unreachable"
			if proto == "tcp" {
				with = "tcp-reset"
			}
			fmt.Fprintf(&t.filter, "-A %s %s -j REJECT --reject-with %s\n", n.reject, strings.Replace(match, "cluster IP", "has no endpoints", 1), with)
		} else {
			svc := n.dynamicChain("S", key)
			fmt.Fprintf(&t.nat, "-A %s %s ! -s %s -j MARK --set-xmark %s\n", n.svcs, match, n.cluster, masqMark)
			fmt.Fprintf(&t.nat, "-A %s %s -j %s\n", n.svcs, match, svc)
			n.balance(t, svc, p, eps, epChains)
		}
	}
	if p.NodePort != 0 {
		match := fmt.Sprintf("-p %s -m %s --dport %d -m comment --comment %q", proto, proto, p.NodePort, p.Service)
		var local []Endpoint
		var localChains []string
		for i, e := range eps {
			if e.Local || !p.NodeLocal {
				local, localChains = append(local, e), append(localChains, epChains[i])
			}
		}
		if len(local) > 0 {
			target := n.dynamicChain("S", key)
			// Connections from anywhere, to pods anywhere: the pod
			// gateway's source brings the reply back through here. Local
			// ones go to this node's pods, whose replies pass here anyway.
			mark := masqMark
			if p.NodeLocal {
				mark = localMark
			}
			fmt.Fprintf(&t.nat, "-A %s %s -j MARK --set-xmark %s\n", n.dnat, match, mark)
			if p.NodeLocal || p.ClusterIP == "" {
				target = n.dynamicChain("L", key)
				n.balance(t, target, p, local, localChains)
			}
			fmt.Fprintf(&t.nat, "-A %s %s -j %s\n", n.dnat, match, target)
		}
	}
	for i, e := range eps {
		n.endpointChain(t, epChains[i], proto, p, e)
	}
	return nil
}

// balance writes chain: back to the endpoint a client used within the
// affinity time, else endpoint i with probability 1/(n-i), which spreads
// connections evenly (kube-proxy's cascade).
func (n serviceRules) balance(t *restoreText, chain string, p ServicePort, eps []Endpoint, epChains []string) {
	t.declare(chain)
	comment := fmt.Sprintf("-m comment --comment %q", p.Service)
	if p.AffinitySeconds > 0 {
		for _, ec := range epChains {
			fmt.Fprintf(&t.nat, "-A %s %s -m recent --rcheck --seconds %d --reap --name %s --mask 255.255.255.255 --rsource -j %s\n",
				chain, comment, p.AffinitySeconds, ec, ec)
		}
	}
	for i, ec := range epChains {
		if left := len(eps) - i; left > 1 {
			fmt.Fprintf(&t.nat, "-A %s %s -m statistic --mode random --probability %0.10f -j %s\n", chain, comment, 1/float64(left), ec)
		} else {
			fmt.Fprintf(&t.nat, "-A %s %s -j %s\n", chain, comment, ec)
		}
	}
}

// endpointChain writes an endpoint's chain once: a pod reaching itself
// is masqueraded (else its reply would skip the DNAT's undoing), the
// client is remembered for affinity, and the connection goes to the pod.
func (n serviceRules) endpointChain(t *restoreText, chain, proto string, p ServicePort, e Endpoint) {
	if t.declared[chain] {
		return
	}
	t.declare(chain)
	comment := fmt.Sprintf("-m comment --comment %q", p.Service)
	fmt.Fprintf(&t.nat, "-A %s %s -s %s/32 -j MARK --set-xmark %s\n", chain, comment, e.IP, masqMark)
	recent := ""
	if p.AffinitySeconds > 0 {
		recent = fmt.Sprintf(" -m recent --set --name %s --mask 255.255.255.255 --rsource", chain)
	}
	fmt.Fprintf(&t.nat, "-A %s %s -p %s%s -m %s -j DNAT --to-destination %s:%d\n", chain, comment, proto, recent, proto, e.IP, e.Port)
}

// SyncServices makes this node serve exactly ports (see ServicePort),
// replacing the rules of the last call in one step. Ports it cannot
// write (a bad endpoint) are reported and the others served.
func (r *Runtime) SyncServices(ctx context.Context, ports []ServicePort) error {
	n, err := newServiceRules(r.cfg.CNI.BridgeName, r.cfg.CNI.PodCIDR, r.cfg.CNI.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("sync services: %w", err)
	}
	return r.cni.host.syncServices(ctx, n, ports)
}

// ClearServices removes the service rules, for an agent that leaves the
// node for good.
func (r *Runtime) ClearServices(ctx context.Context) error {
	return r.cni.host.clearServices(ctx, r.cfg.CNI.BridgeName)
}

func (h *hostNet) syncServices(ctx context.Context, n serviceRules, ports []ServicePort) error {
	if n.source == "" {
		return errors.New("sync services: no pod gateway address to give connections as their source")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Forwarding to pods needs it, and this may run before any pod's
	// network (which turns it on too) is set up. Bridged traffic must
	// pass iptables too: a pod's reply to a client on its own bridge is
	// switched, not routed, and conntrack must still see it to undo the
	// cluster IP's DNAT (kube-proxy needs br_netfilter for the same
	// reason).
	if err := h.sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	var errs []error
	if err := h.bridgeNetfilter(ctx); err != nil {
		errs = append(errs, fmt.Errorf("enable br_netfilter (load the br_netfilter module; pods reaching a cluster IP served on their own node need it): %w", err))
	}
	// One listing and one restore when nothing else changed: an
	// endpoint turning ready reaches the kernel in milliseconds.
	saved, err := h.run(ctx, nil, "iptables-save")
	if err != nil {
		return fmt.Errorf("sync services: list rules: %w", err)
	}
	rules, bad := n.restore(ports, savedChains(string(saved), "nat"))
	if _, err := h.run(ctx, rules, "iptables-restore", "-w", "5", "--noflush"); err != nil {
		return fmt.Errorf("write service rules: %w", err)
	}
	if err := h.hookJumps(ctx, n.jumps(), string(saved)); err != nil {
		return fmt.Errorf("write service rules: %w", err)
	}
	return errors.Join(append(errs, bad)...)
}

// bridgeNetfilter makes bridged traffic pass iptables, loading
// br_netfilter first where the kernel has it as a module not yet loaded
// (a fresh Debian server: its sysctls do not exist until then).
func (h *hostNet) bridgeNetfilter(ctx context.Context) error {
	const key = "net.bridge.bridge-nf-call-iptables"
	err := h.sysctl(key, "1")
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, merr := h.run(ctx, nil, "modprobe", "br_netfilter"); merr != nil {
		return errors.Join(err, merr)
	}
	return h.sysctl(key, "1")
}

// natChains lists the nat table's chains.
func (h *hostNet) natChains(ctx context.Context) ([]string, error) {
	out, err := h.run(ctx, nil, "iptables-save", "-t", "nat")
	if err != nil {
		return nil, fmt.Errorf("list nat chains: %w", err)
	}
	return savedChains(string(out), "nat"), nil
}

// savedTable is the lines of table in iptables-save output.
func savedTable(saved, table string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(saved, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "*"):
			in = l == "*"+table
		case l == "COMMIT":
			in = false
		case in:
			out = append(out, l)
		}
	}
	return out
}

// savedChains lists the chains of table in iptables-save output.
func savedChains(saved, table string) []string {
	var out []string
	for _, l := range savedTable(saved, table) {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], ":") {
			out = append(out, f[0][1:])
		}
	}
	return out
}

// hookJumps adds the jumps that saved (iptables-save output from before
// the restore, which leaves built-in chains alone) lacks, and moves a
// jump that must go first and does not.
func (h *hostNet) hookJumps(ctx context.Context, jumps []jump, saved string) error {
	for _, j := range jumps {
		rules := strings.Join(savedTable(saved, j.table), "\n")
		if j.first {
			if jumpLeads(rules, j) {
				continue
			}
			if err := h.jumpFirst(ctx, j); err != nil {
				return err
			}
			continue
		}
		if slices.Contains(strings.Split(rules, "\n"), "-A "+j.from+" -j "+j.to) {
			continue
		}
		if err := h.iptables(ctx, "-t", j.table, "-A", j.from, "-j", j.to); err != nil {
			return fmt.Errorf("hook %s into %s %s: %w", j.to, j.table, j.from, err)
		}
	}
	return nil
}

// clearServices removes the service chains of bridge: the per-service
// ones first, then the fixed ones with their jumps. Missing ones are
// fine.
func (h *hostNet) clearServices(ctx context.Context, bridge string) error {
	n, _ := newServiceRules(bridge, "", "")
	h.mu.Lock()
	existing, err := h.natChains(ctx)
	if err == nil && slices.ContainsFunc(existing, func(c string) bool { return c == n.svcs || c == n.dnat || n.ownsChain(c) }) {
		_, err = h.run(ctx, n.clearRestore(existing), "iptables-restore", "-w", "5", "--noflush")
	}
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("clear service rules: %w", err)
	}
	return h.clearChains(ctx, n.jumps(), "service rules")
}
