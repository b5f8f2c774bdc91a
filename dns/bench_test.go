package dns

import (
	"hash/maphash"
	"testing"

	"github.com/miekg/dns"

	"shoal/dns/bench"
)

// benchHandle measures Handle plus Fit and packing, which is the work the
// server does for a cluster name besides the socket calls.
func benchHandle(b *testing.B, name string, qtype uint16) {
	tab := BuildTable(bigState(5), "", 0)
	req := query(name, qtype)
	req.SetEdns0(1232, false)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		resp := Handle(tab, req)
		Fit(req, resp, true)
		if _, err := resp.PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleA(b *testing.B) {
	benchHandle(b, "big.default.svc.cluster.local.", dns.TypeA)
}

func BenchmarkHandleSRV(b *testing.B) {
	benchHandle(b, "_http._tcp.big.default.svc.cluster.local.", dns.TypeSRV)
}

func BenchmarkHandleNXDOMAIN(b *testing.B) {
	benchHandle(b, "nope.default.svc.cluster.local.", dns.TypeA)
}

// BenchmarkBuildTable is the cost of one state change: 1000 services of
// 5 pods each.
func BenchmarkBuildTable(b *testing.B) {
	st := bench.State(1000, 5)
	b.ReportAllocs()
	for b.Loop() {
		BuildTable(st, "", 0)
	}
}

// BenchmarkFingerprint is what a state change that does not touch DNS
// costs Update, against BenchmarkBuildTable for one that does.
func BenchmarkFingerprint(b *testing.B) {
	st := bench.State(1000, 5)
	seed := maphash.MakeSeed()
	b.ReportAllocs()
	for b.Loop() {
		fingerprint(seed, st, "")
	}
}
