package dns

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"shoal/cluster"
)

// Defaults for the names the table answers.
const (
	// DefaultTTL is short: answers track pods that come and go, and every
	// agent answers from its own copy of the state, so a stale answer is
	// only ever a few seconds old.
	DefaultTTL = 5 * time.Second
)

// Table is an immutable, precomputed view of the cluster's DNS names: every
// answer is built when the table is, so a query is one map lookup. Records
// in it are shared by every response and must never be mutated.
type Table struct {
	domain string // lower-case FQDN, "cluster.local."
	ttl    uint32
	soa    dns.RR
	// soaWire is soa packed, the authority section of negative answers
	// on the fast path (wire.go).
	soaWire []byte
	names   map[string]*node // lower-case FQDN → records
}

// node is everything the table holds for one name. A node with no records
// still matters: the name exists, so other types get NODATA, not NXDOMAIN.
type node struct {
	a, aaaa, srv, ptr, soa, ns []dns.RR
	// extra is the additional section of an SRV answer: the targets' A and
	// AAAA records, so a client needs no second query.
	extra []dns.RR
	// inZone is false for the short forms ("db", "db.default") answered
	// for the host: they are outside the cluster domain, so a negative
	// answer for them carries no SOA.
	inZone bool
	// packed are the non-empty sets above as the fast path writes them.
	packed []packedSet
}

// Domain is the table's cluster domain as a lower-case FQDN.
func (t *Table) Domain() string { return t.domain }

// Len is how many names the table answers, empty non-terminals included.
func (t *Table) Len() int { return len(t.names) }

// BuildTable computes every answer for st under domain ("" means the
// cluster's configured domain, or cluster.DefaultDomain) with records that live ttl
// (0 means DefaultTTL). It is pure: the same state gives the same table.
func BuildTable(st *cluster.State, domain string, ttl time.Duration) *Table {
	if domain == "" {
		domain = st.Config().Domain
	}
	if domain == "" {
		domain = cluster.DefaultDomain
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	b := &builder{
		t: &Table{
			domain: dns.CanonicalName(domain),
			ttl:    uint32(max(ttl/time.Second, 1)),
			names:  make(map[string]*node),
		},
	}
	b.apex()
	b.services(st)
	b.pods(st)
	b.pack()
	return b.t
}

// pack prepares every answer as the fast path sends it, so a query for a
// cluster name costs a copy of bytes rather than packing records.
func (b *builder) pack() {
	var a arena
	if p, ok := packSet(dns.TypeSOA, []dns.RR{b.t.soa}, nil, &a); ok {
		b.t.soaWire = p.rrs
	}
	for _, n := range b.t.names {
		n.pack(&a)
	}
}

type builder struct {
	t *Table
}

func (b *builder) hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: b.t.ttl}
}

// node returns the node for name (a lower-case FQDN), creating it and, for
// names in the zone, its ancestors up to the apex: an empty non-terminal
// such as "svc.cluster.local." exists and must not answer NXDOMAIN (RFC
// 8020 lets resolvers prune everything below an NXDOMAIN).
func (b *builder) node(name string) *node {
	if n, ok := b.t.names[name]; ok {
		return n
	}
	n := &node{inZone: inZone(name, b.t.domain)}
	b.t.names[name] = n
	if n.inZone && name != b.t.domain {
		if i := strings.IndexByte(name, '.'); i >= 0 {
			b.node(name[i+1:])
		}
	}
	return n
}

func (b *builder) apex() {
	d := b.t.domain
	ns := "ns.dns." + d
	// The SOA's minimum is the TTL of negative answers (RFC 2308): as short
	// as the positive ones, since a name may appear at any moment.
	b.t.soa = &dns.SOA{
		Hdr:     b.hdr(d, dns.TypeSOA),
		Ns:      ns,
		Mbox:    "hostmaster." + d,
		Serial:  1,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  b.t.ttl,
	}
	apex := b.node(d)
	apex.soa = []dns.RR{b.t.soa}
	// No address for the name server: it is whichever agent the client
	// asked, which the table cannot know.
	apex.ns = []dns.RR{&dns.NS{Hdr: b.hdr(d, dns.TypeNS), Ns: ns}}
	b.node(ns)
}

// target is one ready pod behind a service, as the records need it.
type target struct {
	pod  *cluster.Pod
	addr netip.Addr
	// host is the pod's own name under the service: "db-0" for a
	// StatefulSet pod whose subdomain is the service, else its IP with
	// dashes ("10-88-0-5"), as Kubernetes names headless endpoints.
	host     string
	stateful bool
}

func (b *builder) services(st *cluster.State) {
	svcs := st.Services()
	if len(svcs) == 0 {
		return
	}
	// Index ready pods by namespace and label, and by governing service,
	// so each service looks only at its candidates: without this a state
	// change with S services and P pods costs S×P selector matches.
	byLabel := make(map[string][]*cluster.Pod)
	bySubdomain := make(map[string][]*cluster.Pod)
	for p := range st.Pods() {
		// Not-ready pods are indexed too, for the Services that publish
		// them (publishNotReadyAddresses); a stopping one never is.
		if p.Terminating || p.Status.PodIP == "" || p.Status.Phase != cluster.PodRunning {
			continue
		}
		for k, v := range p.Labels {
			byLabel[p.Namespace+"\x00"+k+"\x00"+v] = append(byLabel[p.Namespace+"\x00"+k+"\x00"+v], p)
		}
		if p.Spec.Hostname != "" && p.Spec.Subdomain != "" {
			bySubdomain[p.Namespace+"\x00"+p.Spec.Subdomain] = append(bySubdomain[p.Namespace+"\x00"+p.Spec.Subdomain], p)
		}
	}
	for _, s := range svcs {
		if !isLabel(s.Name) || !isLabel(s.Namespace) {
			continue
		}
		var targets []target
		seen := make(map[*cluster.Pod]bool)
		for _, p := range candidates(s, byLabel, bySubdomain) {
			if seen[p] {
				continue
			}
			seen[p] = true
			if !p.Ready() && !s.PublishNotReadyAddresses {
				continue
			}
			stateful := p.Spec.Hostname != "" && p.Spec.Subdomain == s.Name && isLabel(p.Spec.Hostname)
			if !stateful && !cluster.MatchesSelector(s.Selector, p.Labels) {
				continue
			}
			addr, ok := podAddr(p)
			if !ok {
				continue
			}
			tg := target{pod: p, addr: addr, stateful: stateful}
			if stateful {
				tg.host = strings.ToLower(p.Spec.Hostname)
			} else {
				tg.host = dashed(addr)
			}
			targets = append(targets, tg)
		}
		b.service(s, targets)
	}
}

// candidates are the running pods that may belong to s: those carrying the
// rarest of its selector's labels, and those naming it as their subdomain.
// Pods come out in the state's order (namespace, name) either way.
func candidates(s *cluster.Service, byLabel, bySubdomain map[string][]*cluster.Pod) []*cluster.Pod {
	var best []*cluster.Pod
	for k, v := range s.Selector {
		set := byLabel[s.Namespace+"\x00"+k+"\x00"+v]
		if best == nil || len(set) < len(best) {
			best = set
		}
		if len(set) == 0 {
			break
		}
	}
	sub := bySubdomain[s.Namespace+"\x00"+s.Name]
	if len(sub) == 0 {
		return best
	}
	out := append(slices.Clone(best), sub...)
	slices.SortFunc(out, func(a, b *cluster.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// service adds one service's names: the service itself, its named ports'
// SRV names, and a name per pod (the SRV targets of a headless service).
// A service with a virtual IP answers with that IP, and its SRV records
// name the service on the service's ports, as Kubernetes' DNS does; a
// headless one (or one stored before Shoal had virtual IPs) answers with
// its ready pods and their target ports.
func (b *builder) service(s *cluster.Service, targets []target) {
	svc := strings.ToLower(s.Name)
	ns := strings.ToLower(s.Namespace)
	var members []target // selected pods answer for a headless service name
	for _, tg := range targets {
		// A StatefulSet pod is named under its governing service even when
		// the selector would not pick it, but only selected pods are the
		// service's addresses.
		if cluster.MatchesSelector(s.Selector, tg.pod.Labels) {
			members = append(members, tg)
		}
		b.addresses(svc+"."+ns, tg.host, []target{tg})
	}
	vip, err := netip.ParseAddr(s.ClusterIP)
	virtual := s.HasClusterIP() && err == nil
	if virtual {
		b.addresses(svc+"."+ns, "", []target{{addr: vip}})
	} else {
		b.addresses(svc+"."+ns, "", members)
	}
	for _, port := range s.Ports {
		if port.Name == "" || !isLabel(port.Name) {
			continue
		}
		proto := strings.ToLower(port.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		rel := "_" + strings.ToLower(port.Name) + "._" + proto + "." + svc + "." + ns
		weight := uint16(100 / max(len(members), 1))
		for _, name := range b.forms(rel, ns) {
			n := b.node(name)
			if virtual {
				targetName := svc + "." + ns + ".svc." + b.t.domain
				n.srv = append(n.srv, &dns.SRV{Hdr: b.hdr(name, dns.TypeSRV), Weight: 100, Port: uint16(port.Port), Target: targetName})
				n.extra = append(n.extra, b.addr(targetName, vip))
				continue
			}
			for _, tg := range members {
				targetName := tg.host + "." + svc + "." + ns + ".svc." + b.t.domain
				n.srv = append(n.srv, &dns.SRV{
					Hdr:      b.hdr(name, dns.TypeSRV),
					Priority: 0,
					Weight:   max(weight, 1),
					Port:     targetPort(port, tg.pod),
					Target:   targetName,
				})
				n.extra = append(n.extra, b.addr(targetName, tg.addr))
			}
		}
	}
}

// addresses adds A/AAAA records for targets under "<host>.<svc>.<ns>" (or
// "<svc>.<ns>" when host is "") in every form the contract answers.
func (b *builder) addresses(svcNS, host string, targets []target) {
	rel := svcNS
	if host != "" {
		rel = host + "." + svcNS
	}
	ns := svcNS[strings.IndexByte(svcNS, '.')+1:]
	for _, name := range b.forms(rel, ns) {
		n := b.node(name)
		for _, tg := range targets {
			rr := b.addr(name, tg.addr)
			if tg.addr.Is4() {
				n.a = append(n.a, rr)
			} else {
				n.aaaa = append(n.aaaa, rr)
			}
		}
	}
}

// forms lists the names rel ("db.prod", "db-0.db.prod") is answered under:
// the full "<rel>.svc.<domain>", and, for a host that queries without the
// pods' search domains, "<rel>.svc." and "<rel>."; in the default namespace
// also the bare "db." and "db-0.db.".
func (b *builder) forms(rel, ns string) []string {
	out := []string{rel + ".svc." + b.t.domain, rel + ".svc.", rel + "."}
	if ns == cluster.DefaultNamespace {
		out = append(out, strings.TrimSuffix(rel, "."+ns)+".")
	}
	return out
}

func (b *builder) addr(name string, a netip.Addr) dns.RR {
	if a.Is4() {
		return &dns.A{Hdr: b.hdr(name, dns.TypeA), A: a.AsSlice()}
	}
	return &dns.AAAA{Hdr: b.hdr(name, dns.TypeAAAA), AAAA: a.AsSlice()}
}

// pods adds reverse names for every running pod with an IP, and the forward
// name its PTR points to, so reverse lookups confirm forward (servers that
// log or check peer names do both). Unlike service answers this includes
// pods that are not ready yet: a starting member of a cluster often looks
// up its peers before it passes its readiness probe.
func (b *builder) pods(st *cluster.State) {
	for p := range st.Pods() {
		if p.Terminating || p.Status.Phase != cluster.PodRunning || !isLabel(p.Namespace) {
			continue
		}
		addr, ok := podAddr(p)
		if !ok {
			continue
		}
		name := strings.ToLower(p.Name) + "." + strings.ToLower(p.Namespace) + ".pod." + b.t.domain
		if _, ok := dns.IsDomainName(name); !ok {
			continue
		}
		fwd := b.node(name)
		if addr.Is4() {
			fwd.a = append(fwd.a, b.addr(name, addr))
		} else {
			fwd.aaaa = append(fwd.aaaa, b.addr(name, addr))
		}
		rev, err := dns.ReverseAddr(addr.String())
		if err != nil {
			continue
		}
		n := b.node(rev)
		n.ptr = append(n.ptr, &dns.PTR{Hdr: b.hdr(rev, dns.TypePTR), Ptr: name})
	}
}

// podAddr is the pod's IP, if it has a valid one.
func podAddr(p *cluster.Pod) (netip.Addr, bool) {
	if p.Status.PodIP == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// dashed is an address as one DNS label: 10.88.0.5 → 10-88-0-5,
// fd00::5 → fd00--5.
func dashed(a netip.Addr) string {
	r := strings.NewReplacer(".", "-", ":", "-")
	return r.Replace(a.String())
}

// targetPort is the port a client of a headless service dials on the pod:
// it connects to the pod directly, on the service's target port (by
// number, by container port name, or the service port itself).
func targetPort(sp cluster.ServicePort, p *cluster.Pod) uint16 {
	if sp.TargetPort != 0 {
		return uint16(sp.TargetPort)
	}
	if sp.TargetPortName != "" {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPortName {
					return uint16(cp.ContainerPort)
				}
			}
		}
	}
	return uint16(sp.Port)
}

// isLabel reports whether s can be one DNS label of a name we build.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// inZone reports whether the lower-case FQDN name is domain or below it,
// without allocating.
func inZone(name, domain string) bool {
	if len(name) == len(domain) {
		return name == domain
	}
	return len(name) > len(domain) && strings.HasSuffix(name, domain) && name[len(name)-len(domain)-1] == '.'
}

// inZoneBytes is inZone for a name the fast path read from a datagram.
func inZoneBytes(name []byte, domain string) bool {
	if len(name) == len(domain) {
		return string(name) == domain
	}
	return len(name) > len(domain) && string(name[len(name)-len(domain):]) == domain && name[len(name)-len(domain)-1] == '.'
}
