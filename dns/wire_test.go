package dns

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// slowWire is what the server's slow path sends for the datagram: unpack,
// Handle, Fit for UDP, pack. nil means it sends nothing from the table
// (the query is forwarded, or does not unpack).
func slowWire(tab *Table, wire []byte) ([]byte, error) {
	req := new(dns.Msg)
	if err := req.Unpack(wire); err != nil {
		return nil, nil
	}
	resp := Handle(tab, req)
	if resp == nil {
		return nil, nil
	}
	Fit(req, resp, true)
	return resp.Pack()
}

// sameResponse reports how fast differs from slow, the two paths' answers
// to one query: they must be the same bytes, except that both shuffle the
// answer records, so those may come in another order.
func sameResponse(fast, slow []byte) error {
	if bytes.Equal(fast, slow) {
		return nil
	}
	norm := func(b []byte) ([]byte, error) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return nil, err
		}
		slices.SortFunc(m.Answer, func(a, b dns.RR) int { return strings.Compare(a.String(), b.String()) })
		return m.Pack()
	}
	f, err := norm(fast)
	if err != nil {
		return fmt.Errorf("fast answer does not unpack: %w", err)
	}
	s, err := norm(slow)
	if err != nil {
		return fmt.Errorf("slow answer does not unpack: %w", err)
	}
	if len(fast) != len(slow) || !bytes.Equal(f, s) {
		return fmt.Errorf("fast %x\nslow %x", fast, slow)
	}
	return nil
}

// queryWire packs a query for name and qtype; edns < 0 means no OPT.
func queryWire(t testing.TB, name string, qtype uint16, edns int, do bool, id uint16, rd, cd bool) []byte {
	t.Helper()
	q := query(name, qtype)
	q.Id, q.RecursionDesired, q.CheckingDisabled = id, rd, cd
	if edns >= 0 {
		q.SetEdns0(uint16(edns), do)
	}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// swapCase turns "db.default." into "DB.DeFaUlT.": a 0x20 client.
func swapCase(s string) string {
	b := []byte(s)
	for i, c := range b {
		if i%2 == 0 && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// TestFastPathMatchesHandle asks every name of two tables every type, in
// several spellings, with and without EDNS0, and checks that the fast path
// answers what Handle, Fit and Pack answer, byte for byte, and that it
// does answer the common queries rather than leaving them to the slow path.
func TestFastPathMatchesHandle(t *testing.T) {
	for _, tab := range []*Table{BuildTable(fixture(), "", 0), BuildTable(bigState(40), "", 0)} {
		names := []string{"nope.default.svc.cluster.local.", "x.db.default.svc.cluster.local.", "example.com.", "db.other."}
		for name := range tab.names {
			names = append(names, name)
		}
		slices.Sort(names)
		var fast, total int
		var sc fastScratch
		for _, name := range names {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypePTR, dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeANY} {
				for _, spelling := range []string{name, strings.ToUpper(name), swapCase(name)} {
					for _, edns := range []int{-1, 0, 512, 1232, 4096} {
						wire := queryWire(t, spelling, qtype, edns, edns == 1232, uint16(total), total%2 == 0, total%3 == 0)
						total++
						slow, err := slowWire(tab, wire)
						if err != nil {
							t.Fatalf("%s %d: slow path: %v", spelling, qtype, err)
						}
						got, _, _, ok := tab.appendFast(nil, wire, &sc)
						if !ok {
							if mustBeFast(tab, name, qtype, slow) {
								t.Errorf("%s %s edns %d: left to the slow path", spelling, dns.TypeToString[qtype], edns)
							}
							continue
						}
						fast++
						if slow == nil {
							t.Fatalf("%s %s: fast path answered a query Handle forwards", spelling, dns.TypeToString[qtype])
						}
						if err := sameResponse(got, slow); err != nil {
							t.Errorf("%s %s edns %d: %v", spelling, dns.TypeToString[qtype], edns, err)
						}
					}
				}
			}
		}
		t.Logf("%d of %d queries on the fast path", fast, total)
	}
}

// mustBeFast is what the fast path must take: a name the table answers
// or, in the zone, denies, for a type other than ANY, with an answer that
// fits in 512 bytes untruncated.
func mustBeFast(tab *Table, name string, qtype uint16, slow []byte) bool {
	_, found := tab.names[name]
	return qtype != dns.TypeANY && len(slow) > 0 && len(slow)+optLen <= dns.MinMsgSize && slow[2]&0x02 == 0 &&
		(found || inZone(name, tab.domain))
}

func TestParseQuery(t *testing.T) {
	base := func() *dns.Msg { return query("Db.Default.", dns.TypeA) }
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	with := func(f func(*dns.Msg)) []byte { m := base(); f(m); return pack(m) }
	plain := pack(base())
	compressed := append(slices.Clone(plain[:12]), 0xC0, 12, 0, 1, 0, 1)
	for _, tc := range []struct {
		what  string
		wire  []byte
		ok    bool
		limit int
		do    bool
	}{
		{"plain", plain, true, 512, false},
		{"EDNS0 1232 DO", with(func(m *dns.Msg) { m.SetEdns0(1232, true) }), true, 1232, true},
		{"EDNS0 4096", with(func(m *dns.Msg) { m.SetEdns0(4096, false) }), true, 1232, false},
		{"EDNS0 100", with(func(m *dns.Msg) { m.SetEdns0(100, false) }), true, 512, false},
		{"AD and CD", with(func(m *dns.Msg) { m.AuthenticatedData, m.CheckingDisabled = true, true }), true, 512, false},
		{"no RD", with(func(m *dns.Msg) { m.RecursionDesired = false }), true, 512, false},
		{"a response", with(func(m *dns.Msg) { m.Response = true }), false, 0, false},
		{"opcode NOTIFY", with(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), false, 0, false},
		{"TC", with(func(m *dns.Msg) { m.Truncated = true }), false, 0, false},
		{"rcode set", with(func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }), false, 0, false},
		{"two questions", with(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), false, 0, false},
		{"class CHAOS", with(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), false, 0, false},
		{"EDNS version 1", with(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), false, 0, false},
		{"EDNS cookie", with(func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), false, 0, false},
		{"an answer record", with(func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: 1}}}
		}), false, 0, false},
		{"escaped dot", pack(query(`a\.b.default.`, dns.TypeA)), false, 0, false},
		{"root", pack(query(".", dns.TypeA)), false, 0, false},
		{"wildcard", pack(query("*.default.", dns.TypeA)), false, 0, false},
		{"compression pointer", compressed, false, 0, false},
		{"trailing byte", append(slices.Clone(plain), 0), false, 0, false},
		{"cut short", plain[:len(plain)-1], false, 0, false},
		{"header only", plain[:12], false, 0, false},
		{"empty", nil, false, 0, false},
	} {
		var sc fastScratch
		q, n, ok := parseQuery(tc.wire, &sc)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.what, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if got := string(sc.name[:n]); got != "db.default." || q.qtype != dns.TypeA || q.limit != tc.limit || q.do != tc.do {
			t.Errorf("%s: name %q type %d limit %d do %v, want db.default. A limit %d do %v", tc.what, got, q.qtype, q.limit, q.do, tc.limit, tc.do)
		}
	}
}

// TestFastPathDoesNotAllocate: the answer to a cluster name, shuffled or
// negative, costs no allocation.
func TestFastPathDoesNotAllocate(t *testing.T) {
	tab := BuildTable(bigState(3), "", 0)
	out := make([]byte, 0, EDNSSize)
	var sc fastScratch
	for _, wire := range [][]byte{
		queryWire(t, "Big.Default.SVC.cluster.local.", dns.TypeA, 1232, false, 7, true, false),
		queryWire(t, "_http._tcp.big.default.svc.cluster.local.", dns.TypeSRV, 1232, true, 7, true, false),
		queryWire(t, "no-such-service-with-a-longer-name.default.svc.cluster.local.", dns.TypeA, -1, false, 7, true, false),
		queryWire(t, "big.default.svc.cluster.local.", dns.TypeTXT, -1, false, 7, true, false),
	} {
		if _, _, _, ok := tab.appendFast(out, wire, &sc); !ok {
			t.Fatalf("%x: not on the fast path", wire)
		}
		if n := testing.AllocsPerRun(100, func() { tab.appendFast(out, wire, &sc) }); n != 0 {
			t.Errorf("%x: %v allocations per query", wire, n)
		}
	}
}

// TestFastPathShuffles: the fast path spreads clients over a service's
// pods as Handle does.
func TestFastPathShuffles(t *testing.T) {
	tab := BuildTable(bigState(10), "", 0)
	wire := queryWire(t, "big.default.svc.cluster.local.", dns.TypeA, 1232, false, 1, true, false)
	var sc fastScratch
	firsts := map[string]bool{}
	for range 200 {
		out, _, _, ok := tab.appendFast(nil, wire, &sc)
		if !ok {
			t.Fatal("not on the fast path")
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil || len(m.Answer) != 10 {
			t.Fatalf("answer %v: %v", m, err)
		}
		firsts[m.Answer[0].(*dns.A).A.String()] = true
	}
	// As TestShuffled: fewer than 10 firsts in 200 means no shuffling.
	if len(firsts) != 10 {
		t.Errorf("only %d distinct first answers in 200 queries", len(firsts))
	}
}

// FuzzFastPath feeds datagrams to the fast path: nothing may panic, and
// whatever it answers, the slow path must answer the same.
func FuzzFastPath(f *testing.F) {
	tab := BuildTable(fixture(), "", 0)
	for _, q := range []*dns.Msg{
		query("db.default.svc.cluster.local.", dns.TypeA),
		query("_sql._tcp.DB.default.svc.cluster.local.", dns.TypeSRV),
		query("db-0.db.", dns.TypeAAAA),
		query("10.0.88.10.in-addr.arpa.", dns.TypePTR),
		query("nope.cluster.local.", dns.TypeA),
		query("example.com.", dns.TypeA),
	} {
		for _, edns := range []bool{false, true} {
			if edns {
				q.SetEdns0(1232, true)
			}
			wire, err := q.Pack()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(wire)
		}
	}
	var sc fastScratch
	f.Fuzz(func(t *testing.T, wire []byte) {
		got, _, _, ok := tab.appendFast(nil, wire, &sc)
		if !ok {
			return
		}
		slow, err := slowWire(tab, wire)
		if err != nil || slow == nil {
			t.Fatalf("fast path answered %x; the slow path: %x, %v", wire, slow, err)
		}
		if err := sameResponse(got, slow); err != nil {
			t.Fatalf("query %x: %v", wire, err)
		}
	})
}

func BenchmarkFastPathA(b *testing.B) {
	tab := BuildTable(bigState(5), "", 0)
	wire := queryWire(b, "big.default.svc.cluster.local.", dns.TypeA, 1232, false, 7, true, false)
	out := make([]byte, 0, EDNSSize)
	var sc fastScratch
	b.ReportAllocs()
	for b.Loop() {
		tab.appendFast(out, wire, &sc)
	}
}

// appendFast is the whole fast path for one datagram: parseQuery, then
// answerFast (the server parses once, before its rate limiter).
func (t *Table) appendFast(out, req []byte, sc *fastScratch) (resp []byte, qtype uint16, rcode int, ok bool) {
	q, nameLen, ok := parseQuery(req, sc)
	if !ok {
		return out, 0, 0, false
	}
	return t.answerFast(out, req, q, nameLen, sc)
}
