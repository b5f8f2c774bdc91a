package dns

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzHandle feeds raw messages through what the server does with a
// datagram: unpack, Handle, Fit, pack. Nothing may panic, and whatever
// Handle answers must pack and fit the UDP limit.
func FuzzHandle(f *testing.F) {
	tab := BuildTable(fixture(), "", 0)
	for _, q := range []*dns.Msg{
		query("db.default.svc.cluster.local.", dns.TypeA),
		query("_sql._tcp.db.default.svc.cluster.local.", dns.TypeSRV),
		query("db-0.db.", dns.TypeAAAA),
		query("10.0.88.10.in-addr.arpa.", dns.TypePTR),
		query("cluster.local.", dns.TypeANY),
		query("example.com.", dns.TypeA),
	} {
		q.SetEdns0(1232, true)
		wire, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			return
		}
		resp := Handle(tab, req)
		if resp == nil {
			return
		}
		Fit(req, resp, true)
		out, err := resp.Pack()
		if err != nil {
			t.Fatalf("response to %v does not pack: %v", req, err)
		}
		limit := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			limit = max(limit, int(opt.UDPSize()))
		}
		if len(out) > limit && len(resp.Answer)+len(resp.Ns) > 0 {
			t.Fatalf("%d-byte response over the %d-byte limit", len(out), limit)
		}
	})
}
