package dns

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"shoal/cluster"
)

func TestAddressNameForms(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	dbDefault := []string{"10.88.0.10", "10.88.1.11"}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"db.default.svc.cluster.local.", dns.TypeA, dbDefault},
		{"DB.Default.SVC.Cluster.Local.", dns.TypeA, dbDefault},
		{"db.default.svc.", dns.TypeA, dbDefault},
		{"db.default.", dns.TypeA, dbDefault},
		{"db.", dns.TypeA, dbDefault}, // bare name: default namespace
		// A service with a virtual IP answers with it, as in Kubernetes.
		{"db.prod.svc.cluster.local.", dns.TypeA, []string{"10.43.0.53"}},
		{"db.prod.", dns.TypeA, []string{"10.43.0.53"}},
		{"web.default.svc.cluster.local.", dns.TypeA, []string{"10.43.0.80"}},
		{"web.default.svc.cluster.local.", dns.TypeAAAA, nil},
		{"web.", dns.TypeA, []string{"10.43.0.80"}},
		// StatefulSet pods by hostname.
		{"db-0.db.default.svc.cluster.local.", dns.TypeA, []string{"10.88.0.10"}},
		{"db-0.db.default.", dns.TypeA, []string{"10.88.0.10"}},
		{"db-0.db.", dns.TypeA, []string{"10.88.0.10"}},
		{"db-1.db.", dns.TypeA, []string{"10.88.1.11"}},
		// SRV targets of pods without a hostname resolve too.
		{"10-88-0-20.web.default.svc.cluster.local.", dns.TypeA, []string{"10.88.0.20"}},
		{"fd00--21.web.default.svc.cluster.local.", dns.TypeAAAA, []string{"fd00::21"}},
		// Names a pod's PTR points at.
		{"db-0.default.pod.cluster.local.", dns.TypeA, []string{"10.88.0.10"}},
	} {
		resp := mustHandle(t, tab, query(tc.name, tc.qtype))
		if resp.Rcode != dns.RcodeSuccess || !resp.Authoritative {
			t.Errorf("%s: rcode %s aa=%v", tc.name, dns.RcodeToString[resp.Rcode], resp.Authoritative)
		}
		if got := addrs(resp.Answer); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
		for _, rr := range resp.Answer {
			if rr.Header().Name != strings.ToLower(tc.name) || rr.Header().Ttl != 5 {
				t.Errorf("%s: record %v: owner or TTL wrong", tc.name, rr)
			}
		}
	}
}

func TestNotReadyAndOtherNamespacesExcluded(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	for _, name := range []string{"db-2.db.default.svc.cluster.local.", "web-c.default.pod.cluster.local."} {
		resp := mustHandle(t, tab, query(name, dns.TypeA))
		if resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s: rcode %s, want NXDOMAIN", name, dns.RcodeToString[resp.Rcode])
		}
	}
	// The pod labelled app=db in "other" has no service there and must not
	// leak into default/db or prod/db.
	for _, name := range []string{"db.default.svc.cluster.local.", "db.prod.svc.cluster.local."} {
		resp := mustHandle(t, tab, query(name, dns.TypeA))
		if slices.Contains(addrs(resp.Answer), "10.88.2.6") {
			t.Errorf("%s answers a pod of another namespace", name)
		}
	}
	if resp := Handle(tab, query("db.other.", dns.TypeA)); resp != nil {
		t.Errorf("db.other. answered %v; a namespace without the service must be forwarded", resp)
	}
}

func TestSRV(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	for _, tc := range []struct {
		name    string
		targets []string // "target:port", sorted
	}{
		{"_sql._tcp.db.default.svc.cluster.local.", []string{
			"db-0.db.default.svc.cluster.local.:5432", "db-1.db.default.svc.cluster.local.:5432"}},
		{"_sql._tcp.db.", []string{
			"db-0.db.default.svc.cluster.local.:5432", "db-1.db.default.svc.cluster.local.:5432"}},
		// A service with a virtual IP: itself, on the service's port.
		{"_http._tcp.web.default.svc.cluster.local.", []string{"web.default.svc.cluster.local.:80"}},
		{"_dns._udp.db.prod.svc.cluster.local.", []string{"db.prod.svc.cluster.local.:53"}},
	} {
		resp := mustHandle(t, tab, query(tc.name, dns.TypeSRV))
		var got []string
		for _, rr := range resp.Answer {
			srv := rr.(*dns.SRV)
			got = append(got, srv.Target+":"+strconv.Itoa(int(srv.Port)))
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.targets) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.targets)
		}
		// Every target's address comes along in the additional section.
		extra := map[string]bool{}
		for _, rr := range resp.Extra {
			extra[rr.Header().Name] = true
		}
		for _, rr := range resp.Answer {
			if !extra[rr.(*dns.SRV).Target] {
				t.Errorf("%s: no additional record for %s", tc.name, rr.(*dns.SRV).Target)
			}
		}
	}
	// Unnamed ports have no SRV name; the wrong protocol does not exist.
	for _, name := range []string{"_sql._udp.db.default.svc.cluster.local.", "_9000._tcp.db.default.svc.cluster.local."} {
		if resp := mustHandle(t, tab, query(name, dns.TypeSRV)); resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s: rcode %s, want NXDOMAIN", name, dns.RcodeToString[resp.Rcode])
		}
	}
}

func TestPTR(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	for ip, want := range map[string]string{
		"10.88.0.10": "db-0.default.pod.cluster.local.",
		"fd00::21":   "web-b.default.pod.cluster.local.",
		"10.88.0.12": "db-2.default.pod.cluster.local.", // running, not ready: still has its name
	} {
		rev, _ := dns.ReverseAddr(ip)
		resp := mustHandle(t, tab, query(rev, dns.TypePTR))
		if len(resp.Answer) != 1 || resp.Answer[0].(*dns.PTR).Ptr != want {
			t.Errorf("PTR %s = %v, want %s", rev, resp.Answer, want)
		}
	}
	// Terminating pods have no reverse name; other reverse names are the
	// upstreams' business.
	if resp := Handle(tab, query("22.0.88.10.in-addr.arpa.", dns.TypePTR)); resp != nil {
		t.Errorf("terminating pod's PTR answered: %v", resp)
	}
	if resp := Handle(tab, query("1.0.0.127.in-addr.arpa.", dns.TypePTR)); resp != nil {
		t.Errorf("unknown PTR answered: %v", resp)
	}
}

func TestNegativeAnswers(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	for _, tc := range []struct {
		name    string
		qtype   uint16
		rcode   int
		withSOA bool
	}{
		{"nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, true},
		{"x.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, true},
		{"cluster.local.", dns.TypeA, dns.RcodeSuccess, true},                     // apex: NODATA
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true},                 // empty non-terminal
		{"_tcp.db.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true}, // empty non-terminal
		{"db.default.svc.cluster.local.", dns.TypeMX, dns.RcodeSuccess, true},
		{"db.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, true},
		{"idle.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, true}, // no ready pods
		{"idle.", dns.TypeA, dns.RcodeSuccess, false},                          // short form: outside the zone
	} {
		resp := mustHandle(t, tab, query(tc.name, tc.qtype))
		if resp.Rcode != tc.rcode || len(resp.Answer) != 0 {
			t.Errorf("%s %s: rcode %s with %d answers, want %s and none", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[resp.Rcode], len(resp.Answer), dns.RcodeToString[tc.rcode])
		}
		hasSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA
		if hasSOA != tc.withSOA {
			t.Errorf("%s: authority %v, want SOA: %v", tc.name, resp.Ns, tc.withSOA)
		}
	}
}

func TestApexAndAny(t *testing.T) {
	tab := BuildTable(fixture(), "Example.Internal", 30*time.Second)
	soa := mustHandle(t, tab, query("example.internal.", dns.TypeSOA))
	if len(soa.Answer) != 1 || soa.Answer[0].(*dns.SOA).Minttl != 30 || soa.Answer[0].Header().Ttl != 30 {
		t.Errorf("SOA = %v", soa.Answer)
	}
	ns := mustHandle(t, tab, query("example.internal.", dns.TypeNS))
	if len(ns.Answer) != 1 || ns.Answer[0].(*dns.NS).Ns != "ns.dns.example.internal." {
		t.Errorf("NS = %v", ns.Answer)
	}
	if resp := Handle(tab, query("db.default.svc.cluster.local.", dns.TypeA)); resp != nil {
		t.Errorf("the default domain answered under a custom one: %v", resp)
	}
	// ANY gets one RRset (RFC 8482), not everything.
	anyResp := mustHandle(t, tab, query("web.default.svc.example.internal.", dns.TypeANY))
	if len(anyResp.Answer) != 1 || anyResp.Answer[0].Header().Rrtype != dns.TypeA {
		t.Errorf("ANY = %v, want only the A record", anyResp.Answer)
	}
}

func TestForwardedNamesNotAnswered(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	for _, name := range []string{"example.com.", "cluster.local.example.com.", "local.", "default.", "."} {
		if resp := Handle(tab, query(name, dns.TypeA)); resp != nil {
			t.Errorf("%s answered locally: %v", name, resp)
		}
	}
}

func TestErrorRcodes(t *testing.T) {
	tab := BuildTable(fixture(), "", 0)
	notify := query("db.default.svc.cluster.local.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	twoQ := query("db.", dns.TypeA)
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	noQ := query("db.", dns.TypeA)
	noQ.Question = nil
	chaos := query("db.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	badVers := query("db.", dns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	resp := query("db.", dns.TypeA)
	resp.Response = true
	for _, tc := range []struct {
		what  string
		req   *dns.Msg
		rcode int
	}{
		{"opcode NOTIFY", notify, dns.RcodeNotImplemented},
		{"two questions", twoQ, dns.RcodeFormatError},
		{"no question", noQ, dns.RcodeFormatError},
		{"class CHAOS", chaos, dns.RcodeRefused},
		{"EDNS version 1", badVers, dns.RcodeBadVers},
		{"a response", resp, dns.RcodeFormatError},
	} {
		got := Handle(tab, tc.req)
		if got == nil || got.Rcode != tc.rcode {
			t.Errorf("%s: got %v, want rcode %s", tc.what, got, dns.RcodeToString[tc.rcode])
			continue
		}
		if len(got.Question) > 1 {
			t.Errorf("%s: echoed %d questions", tc.what, len(got.Question))
		}
		if _, err := got.Pack(); err != nil {
			t.Errorf("%s: response does not pack: %v", tc.what, err)
		}
	}
}

func TestShuffled(t *testing.T) {
	tab := BuildTable(bigState(10), "", 0)
	before := slices.Clone(tab.names["big.default.svc.cluster.local."].a)
	firsts := map[string]bool{}
	for range 200 {
		resp := mustHandle(t, tab, query("big.default.svc.cluster.local.", dns.TypeA))
		if len(resp.Answer) != 10 {
			t.Fatalf("got %d answers, want 10", len(resp.Answer))
		}
		firsts[resp.Answer[0].(*dns.A).A.String()] = true
	}
	// 200 draws from 10 leave a given address out with probability
	// (0.9)^200 ≈ 7e-10: seeing fewer than 10 firsts means no shuffling.
	if len(firsts) != 10 {
		t.Errorf("only %d distinct first answers in 200 queries", len(firsts))
	}
	// The table's own order is untouched.
	if !slices.Equal(before, tab.names["big.default.svc.cluster.local."].a) {
		t.Error("shuffling changed the table")
	}
}

func TestFitTruncatesUDP(t *testing.T) {
	tab := BuildTable(bigState(200), "", 0)
	name := "big.default.svc.cluster.local."
	for _, tc := range []struct {
		what      string
		edns      uint16 // 0: no EDNS0
		udp       bool
		limit     int
		truncated bool
	}{
		{"udp, no EDNS0", 0, true, 512, true},
		{"udp, EDNS0 1232", 1232, true, 1232, true},
		{"udp, EDNS0 below 512", 100, true, 512, true},
		{"udp, EDNS0 65000 is held to 1232", 65000, true, 1232, true},
		{"tcp", 0, false, dns.MaxMsgSize, false},
	} {
		req := query(name, dns.TypeA)
		if tc.edns != 0 {
			req.SetEdns0(tc.edns, true)
		}
		resp := mustHandle(t, tab, req)
		Fit(req, resp, tc.udp)
		wire, err := resp.Pack()
		if err != nil {
			t.Fatalf("%s: pack: %v", tc.what, err)
		}
		if len(wire) > tc.limit {
			t.Errorf("%s: %d bytes, limit %d", tc.what, len(wire), tc.limit)
		}
		if resp.Truncated != tc.truncated {
			t.Errorf("%s: TC=%v, want %v", tc.what, resp.Truncated, tc.truncated)
		}
		if !tc.truncated && len(resp.Answer) != 200 {
			t.Errorf("%s: %d answers, want all 200", tc.what, len(resp.Answer))
		}
		opt := resp.IsEdns0()
		if (opt != nil) != (tc.edns != 0) {
			t.Errorf("%s: OPT in response %v, in query %v", tc.what, opt != nil, tc.edns != 0)
		}
		if opt != nil && (!opt.Do() || opt.UDPSize() != EDNSSize) {
			t.Errorf("%s: OPT %v does not echo DO / advertise %d", tc.what, opt, EDNSSize)
		}
	}
}

func TestBuildTableSkipsBadData(t *testing.T) {
	tx := fixture().Txn(2)
	tx.PutPod(pod("default", "bad-ip", "not-an-ip", map[string]string{"app": "db"}))
	tx.PutPod(pod("default", "no-ip", "", map[string]string{"app": "db"}))
	tx.PutService(&cluster.Service{Namespace: "default", Name: "bad-vip", ClusterIP: "not-an-ip", Selector: map[string]string{"app": "web"}})
	tab := BuildTable(tx.Commit(), "", 0)
	resp := mustHandle(t, tab, query("db.default.svc.cluster.local.", dns.TypeA))
	if got := addrs(resp.Answer); !slices.Equal(got, []string{"10.88.0.10", "10.88.1.11"}) {
		t.Errorf("db = %v", got)
	}
	// A virtual IP that is not one answers like a service without one.
	resp = mustHandle(t, tab, query("bad-vip.default.svc.cluster.local.", dns.TypeA))
	if got := addrs(resp.Answer); !slices.Equal(got, []string{"10.88.0.20"}) {
		t.Errorf("bad-vip = %v", got)
	}
}

// A Service that publishes not-ready addresses answers with its running
// pods whether ready or not (peer discovery before readiness), never with
// a stopping one; the same pods stay out of a normal Service's answers.
func TestPublishNotReadyAddresses(t *testing.T) {
	tx := fixture().Txn(2)
	tx.PutService(&cluster.Service{Namespace: "default", Name: "db-peers", ClusterIP: "None", PublishNotReadyAddresses: true,
		Selector: map[string]string{"app": "db"}})
	tx.PutPod(pod("default", "db-3", "10.88.0.13", map[string]string{"app": "db"}, notReady, terminating))
	tab := BuildTable(tx.Commit(), "", 0)
	tests := []struct {
		name string
		want []string
	}{
		{"db-peers.default.svc.cluster.local.", []string{"10.88.0.10", "10.88.0.12", "10.88.1.11"}},
		{"db.default.svc.cluster.local.", []string{"10.88.0.10", "10.88.1.11"}},
	}
	for _, tt := range tests {
		got := addrs(mustHandle(t, tab, query(tt.name, dns.TypeA)).Answer)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
