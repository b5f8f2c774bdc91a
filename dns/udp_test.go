package dns

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestServerUDPManyClients sends from many client sockets, so the kernel
// spreads them over the server's sockets, queries in every spelling and
// with and without EDNS0, and checks each answer against Handle's.
func TestServerUDPManyClients(t *testing.T) {
	s, reg := startServer(t, func(c *Config) { c.UDPReaders = 3 })
	addr := s.Addrs()[0]
	tab := s.Table()
	names := []string{"db.default.svc.cluster.local.", "WEB.default.SVC.cluster.local.", "Db-0.Db.",
		"_sql._tcp.db.default.svc.cluster.local.", "nope.default.svc.cluster.local.", "idle."}
	const clients = 12
	var wg sync.WaitGroup
	errs := make(chan error, clients*len(names)*2)
	types := []uint16{dns.TypeA, dns.TypeA, dns.TypeA, dns.TypeSRV, dns.TypeA, dns.TypeMX}
	for c := range clients {
		var wires [][]byte
		for i, name := range names {
			for _, edns := range []int{-1, 1232} {
				wires = append(wires, queryWire(t, name, types[i], edns, c%2 == 0, uint16(c*100+i), true, false))
			}
		}
		wg.Go(func() {
			conn, err := net.Dial("udp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			for _, wire := range wires {
				errs <- askUDP(conn, tab, wire)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := counter(t, reg, "shoal_dns_responses_total", ""); got != clients*float64(len(names))*2 {
		t.Errorf("responses = %v, want %d", got, clients*len(names)*2)
	}
}

// askUDP sends wire on conn and compares the answer with the slow path's.
func askUDP(conn net.Conn, tab *Table, wire []byte) error {
	if _, err := conn.Write(wire); err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	want, err := slowWire(tab, wire)
	if err != nil {
		return err
	}
	return sameResponse(buf[:n], want)
}

// TestDatagramDoesNotAllocate: everything the server does for a cluster
// name between reading and writing, rate limit and metrics included,
// allocates nothing.
func TestDatagramDoesNotAllocate(t *testing.T) {
	s, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(fixture())
	wire := queryWire(t, "DB.default.svc.cluster.local.", dns.TypeA, 1232, false, 1, true, false)
	from := netip.MustParseAddrPort("127.0.0.1:5353")
	out := make([]byte, 0, EDNSSize)
	var sc fastScratch
	if resp := s.datagram(nil, wire, from, out, &sc, time.Now()); resp == nil {
		t.Fatal("not answered on the fast path")
	}
	if n := testing.AllocsPerRun(100, func() { s.datagram(nil, wire, from, out, &sc, time.Now()) }); n != 0 {
		t.Errorf("%v allocations per query", n)
	}
	_ = s.Shutdown(context.Background())
}

// BenchmarkDatagramA is the server's own work for a cluster name between
// reading and writing: parsing, the answer and the metrics
// (BenchmarkFastPathA is the answer alone). The rate limiter is off, as
// in scripts/bench-dns.sh: one client this fast is over any limit.
func BenchmarkDatagramA(b *testing.B) {
	s, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}, RateLimit: RateLimit{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	s.Update(bigState(5))
	wire := queryWire(b, "big.default.svc.cluster.local.", dns.TypeA, 1232, false, 7, true, false)
	from := netip.MustParseAddrPort("127.0.0.1:5353")
	out := make([]byte, 0, EDNSSize)
	var sc fastScratch
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if s.datagram(nil, wire, from, out, &sc, start) == nil {
			b.Fatal("not answered on the fast path")
		}
	}
}
