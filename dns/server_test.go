package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"shoal/cluster"
)

// fakeUpstream is a resolver on loopback: example.com. has an address,
// big.example. only fits over TCP, fail.example. gets SERVFAIL.
type fakeUpstream struct {
	addr    string
	queries atomic.Int64
	tcp     atomic.Int64
	gate    chan struct{} // gate.example. waits for it to close
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{gate: make(chan struct{})}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		u.queries.Add(1)
		_, isTCP := w.RemoteAddr().(*net.TCPAddr)
		if isTCP {
			u.tcp.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch q.Name {
		case "example.com.":
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		case "big.example.":
			if !isTCP {
				m.Truncated = true
				break
			}
			for i := range 100 {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
			}
		case "gate.example.":
			<-u.gate
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 2)}}
		case "fail.example.":
			m.Rcode = dns.RcodeServerFailure
		default:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "ns.example.", Mbox: "h.example.", Minttl: 30}}
		}
		_ = w.WriteMsg(m)
	})
	pcs, l, err := listen(context.Background(), "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	pc := pcs[0]
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	t.Cleanup(func() {
		select {
		case <-u.gate:
		default:
			close(u.gate)
		}
	})
	return u
}

// startServer starts a server on loopback port 0 with the fixture; adjust
// tightens its config.
func startServer(t *testing.T, adjust func(*Config)) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}, Registry: reg, RateLimit: RateLimit{Disabled: true},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Update(fixture())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, reg
}

func exchange(t *testing.T, network, addr string, req *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(req, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, req.Question[0].Name, err)
	}
	return resp
}

// counter reads a counter (or a histogram's count) from reg; labels is
// "name=value" of one label, or "".
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName()+"="+lp.GetValue() == label {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				sum += m.GetCounter().GetValue()
			}
			if m.Histogram != nil {
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func TestServerUDPAndTCP(t *testing.T) {
	s, reg := startServer(t, nil)
	addr := s.Addrs()[0]
	for _, network := range []string{"udp", "tcp"} {
		resp := exchange(t, network, addr, query("db.default.svc.cluster.local.", dns.TypeA))
		if got := addrs(resp.Answer); !slices.Equal(got, []string{"10.88.0.10", "10.88.1.11"}) {
			t.Errorf("%s: db = %v", network, got)
		}
		resp = exchange(t, network, addr, query("nope.default.svc.cluster.local.", dns.TypeA))
		if resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s: unknown name rcode %s", network, dns.RcodeToString[resp.Rcode])
		}
	}
	if got := counter(t, reg, "shoal_dns_queries_total", "type=A"); got != 4 {
		t.Errorf("queries{type=A} = %v, want 4", got)
	}
	if got := counter(t, reg, "shoal_dns_responses_total", "rcode=NXDOMAIN"); got != 2 {
		t.Errorf("responses{rcode=NXDOMAIN} = %v, want 2", got)
	}
	// The duration is observed after the write: poll for the last one.
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, reg, "shoal_dns_request_duration_seconds", "") != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("duration count = %v, want 4", counter(t, reg, "shoal_dns_request_duration_seconds", ""))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServerTruncatesUDPThenTCPIsComplete(t *testing.T) {
	s, _ := startServer(t, nil)
	s.Update(bigState(100))
	req := query("big.default.svc.cluster.local.", dns.TypeA)
	udp := exchange(t, "udp", s.Addrs()[0], req)
	if !udp.Truncated {
		t.Errorf("100 A records over UDP without EDNS0: TC not set (%d answers)", len(udp.Answer))
	}
	tcp := exchange(t, "tcp", s.Addrs()[0], req)
	if tcp.Truncated || len(tcp.Answer) != 100 {
		t.Errorf("over TCP: TC=%v with %d answers, want all 100", tcp.Truncated, len(tcp.Answer))
	}
	// A client offering a 4096-byte buffer still gets at most 1232 bytes
	// over UDP (no amplification, no fragments), the rest over TCP.
	req.SetEdns0(4096, false)
	edns := exchange(t, "udp", s.Addrs()[0], req)
	edns.Compress = true // as it came over the wire
	wire, err := edns.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if !edns.Truncated || len(wire) > EDNSSize || edns.IsEdns0() == nil {
		t.Errorf("over UDP with EDNS0 4096: TC=%v, %d bytes, OPT %v", edns.Truncated, len(wire), edns.IsEdns0())
	}
	s.Update(bigState(20))
	small := exchange(t, "udp", s.Addrs()[0], req)
	if small.Truncated || len(small.Answer) != 20 {
		t.Errorf("20 A records over UDP with EDNS0: TC=%v, %d answers", small.Truncated, len(small.Answer))
	}
}

func TestServerTableSwap(t *testing.T) {
	s, _ := startServer(t, nil)
	tx := fixture().Txn(2)
	tx.PutPod(pod("default", "db-9", "10.88.3.3", map[string]string{"app": "db"}))
	tx.DeletePod("default", "db-0")
	s.Update(tx.Commit())
	resp := exchange(t, "udp", s.Addrs()[0], query("db.", dns.TypeA))
	if got := addrs(resp.Answer); !slices.Equal(got, []string{"10.88.1.11", "10.88.3.3"}) {
		t.Errorf("after Update, headless db = %v, want [10.88.1.11 10.88.3.3]", got)
	}
}

func TestServerForwards(t *testing.T) {
	up := startUpstream(t)
	s, reg := startServer(t, func(c *Config) { c.Upstreams = []string{up.addr} })
	addr := s.Addrs()[0]

	resp := exchange(t, "udp", addr, query("example.com.", dns.TypeA))
	if got := addrs(resp.Answer); resp.Rcode != dns.RcodeSuccess || !slices.Equal(got, []string{"192.0.2.1"}) || resp.Authoritative {
		t.Fatalf("example.com = %v rcode %s aa=%v", got, dns.RcodeToString[resp.Rcode], resp.Authoritative)
	}
	// The second query is a cache hit: the upstream is not asked again.
	resp = exchange(t, "tcp", addr, query("EXAMPLE.com.", dns.TypeA))
	if resp.Question[0].Name != "EXAMPLE.com." || len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl > 60 {
		t.Errorf("cached answer %v", resp)
	}
	if n := up.queries.Load(); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
	if hits := counter(t, reg, "shoal_dns_cache_hits_total", ""); hits != 1 {
		t.Errorf("cache hits = %v, want 1", hits)
	}
	if fwd := counter(t, reg, "shoal_dns_forwarded_total", ""); fwd != 1 {
		t.Errorf("forwarded = %v, want 1", fwd)
	}

	// Truncated upstream answers are fetched again over TCP.
	req := query("big.example.", dns.TypeA)
	resp = exchange(t, "tcp", addr, req)
	if len(resp.Answer) != 100 || up.tcp.Load() != 1 {
		t.Errorf("big.example: %d answers, %d TCP upstream queries", len(resp.Answer), up.tcp.Load())
	}
	// NXDOMAIN passes through (and is cached by its SOA).
	if resp := exchange(t, "udp", addr, query("nope.example.", dns.TypeA)); resp.Rcode != dns.RcodeNameError {
		t.Errorf("nope.example: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if n := s.fwd.cache.len(); n != 3 {
		t.Errorf("cache holds %d answers, want 3", n)
	}
}

func TestServerServfailWhenUpstreamsFail(t *testing.T) {
	up := startUpstream(t)
	// A port nothing listens on: loopback answers "connection refused" at
	// once, so the next upstream is tried without waiting for a timeout.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	_ = dead.Close()
	s, reg := startServer(t, func(c *Config) { c.Upstreams = []string{deadAddr, up.addr} })
	addr := s.Addrs()[0]
	if resp := exchange(t, "udp", addr, query("example.com.", dns.TypeA)); resp.Rcode != dns.RcodeSuccess {
		t.Errorf("second upstream not tried: rcode %s", dns.RcodeToString[resp.Rcode])
	}
	if resp := exchange(t, "udp", addr, query("fail.example.", dns.TypeA)); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("all upstreams failing: rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	if got := counter(t, reg, "shoal_dns_responses_total", "rcode=SERVFAIL"); got != 1 {
		t.Errorf("responses{rcode=SERVFAIL} = %v", got)
	}
	// Without upstreams at all, other names fail, cluster names work.
	s2, _ := startServer(t, nil)
	if resp := exchange(t, "udp", s2.Addrs()[0], query("example.com.", dns.TypeA)); resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstreams: rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
}

func TestServerRateLimit(t *testing.T) {
	s, reg := startServer(t, func(c *Config) { c.RateLimit = RateLimit{QPS: 0.001, Burst: 3} })
	var rcodes []int
	for range 5 {
		rcodes = append(rcodes, exchange(t, "udp", s.Addrs()[0], query("db.", dns.TypeA)).Rcode)
	}
	want := []int{dns.RcodeSuccess, dns.RcodeSuccess, dns.RcodeSuccess, dns.RcodeRefused, dns.RcodeRefused}
	if !slices.Equal(rcodes, want) {
		t.Errorf("rcodes %v, want %v", rcodes, want)
	}
	if got := counter(t, reg, "shoal_dns_rate_limited_total", ""); got != 2 {
		t.Errorf("rate limited = %v, want 2", got)
	}
}

func TestLimiterRefillsAndStaysBounded(t *testing.T) {
	l := newLimiter(RateLimit{QPS: 1e9, Burst: 1})
	ip := netipAddr(t, "10.0.0.1")
	for range 10 {
		// At a billion per second the bucket refills between calls.
		if !l.allow(ip) {
			t.Fatal("refilled bucket refused")
		}
	}
	// A full shard drops its idle clients first, then half of the rest.
	var sh limiterShard
	sh.buckets = map[netip.Addr]*bucket{}
	for i := range maxClientsPerShard {
		last := time.Hour // busy
		if i%4 == 0 {
			last = 0 // idle for an hour at now=time.Hour+1s
		}
		sh.buckets[netipAddr(t, fmt.Sprintf("10.0.%d.%d", i>>8, i&255))] = &bucket{last: last}
	}
	sh.evict(time.Hour+time.Second, 10)
	if n := len(sh.buckets); n != maxClientsPerShard*3/4 {
		t.Errorf("after evicting idle clients %d remain, want %d", n, maxClientsPerShard*3/4)
	}
	for i := range maxClientsPerShard / 4 {
		sh.buckets[netipAddr(t, fmt.Sprintf("10.1.%d.%d", i>>8, i&255))] = &bucket{last: time.Hour}
	}
	sh.evict(time.Hour+time.Second, 10)
	if n := len(sh.buckets); n != maxClientsPerShard/2 {
		t.Errorf("after evicting busy clients %d remain, want %d", n, maxClientsPerShard/2)
	}
	if newLimiter(RateLimit{Disabled: true}).allow(ip) != true {
		t.Error("disabled limiter refused")
	}
}

func TestNewRequiresAddrsAndReadsResolvConf(t *testing.T) {
	if _, err := New(Config{}); err != ErrNoAddrs {
		t.Errorf("New without addrs: %v, want ErrNoAddrs", err)
	}
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 10.0.0.53\nnameserver 192.0.2.9\nsearch x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := hostUpstreams(path, []string{"10.0.0.53:53"})
	if err != nil || !slices.Equal(got, []string{"192.0.2.9:53"}) {
		t.Errorf("hostUpstreams = %v, %v; want only 192.0.2.9:53", got, err)
	}
	if _, err := hostUpstreams(path, []string{"10.0.0.53:53", "192.0.2.9:53"}); err == nil {
		t.Error("only own addresses: no error")
	}
	// Two servers on one registry is a wiring bug, reported as an error.
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}, Registry: reg}); err == nil {
		t.Error("second registration: no error")
	}
}

func TestListenAndServeStopsOnCancel(t *testing.T) {
	s, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx) }()
	// Poll until it serves rather than sleeping.
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Addrs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not serving after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Update(cluster.Empty())
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe: %v", err)
	}
	if err := s.Start(context.Background()); err != ErrStarted {
		t.Errorf("restart: %v, want ErrStarted", err)
	}
}

func netipAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestUpdateRebuildsOnlyForDNSChanges(t *testing.T) {
	s, err := New(Config{Addrs: []string{"127.0.0.1:0"}, Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	st := fixture()
	s.Update(st)
	before := s.Table()

	tx := st.Txn(2)
	p, _ := tx.Pod("default", "db-0")
	p = p.Clone()
	p.Status.Containers = []cluster.ContainerStatus{{Name: "c", RestartCount: 3}}
	tx.PutPod(p)
	st = tx.Commit()
	s.Update(st)
	if s.Table() != before {
		t.Error("a restart count change rebuilt the table")
	}

	tx = st.Txn(3)
	p = p.Clone()
	p.Status.Ready = false
	tx.PutPod(p)
	st = tx.Commit()
	s.Update(st)
	if s.Table() == before {
		t.Fatal("a readiness change kept the old table")
	}
	resp := Handle(s.Table(), query("db.", dns.TypeA))
	if got := addrs(resp.Answer); !slices.Equal(got, []string{"10.88.1.11"}) {
		t.Errorf("headless db answered %v with db-0 unready", got)
	}
	// A virtual IP assigned to a service is a DNS change too.
	tx = st.Txn(4)
	svc, _ := tx.Service("default", "idle")
	svc = svc.Clone()
	svc.ClusterIP = "10.43.0.99"
	tx.PutService(svc)
	s.Update(tx.Commit())
	if got := addrs(Handle(s.Table(), query("idle.", dns.TypeA)).Answer); !slices.Equal(got, []string{"10.43.0.99"}) {
		t.Errorf("idle after its virtual IP = %v", got)
	}
}

func TestForwarderJoinsConcurrentMisses(t *testing.T) {
	up := startUpstream(t)
	f := newForwarder([]string{up.addr}, 0)
	const n = 10
	results := make(chan *dns.Msg, n)
	for range n {
		go func() {
			resp, _, _, err := f.forward(context.Background(), query("gate.example.", dns.TypeA))
			if err != nil {
				t.Error(err)
			}
			results <- resp
		}()
	}
	// Poll until the other nine have joined the first one's exchange.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		c := f.inflight[cacheKey{name: "gate.example.", qtype: dns.TypeA, qclass: dns.ClassINET}]
		joined := c != nil && c.waiters == n-1
		f.mu.Unlock()
		if joined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("queries did not join one exchange")
		}
		time.Sleep(time.Millisecond)
	}
	close(up.gate)
	for range n {
		if got := addrs((<-results).Answer); !slices.Equal(got, []string{"192.0.2.2"}) {
			t.Errorf("joined query got %v", got)
		}
	}
	if q := up.queries.Load(); q != 1 {
		t.Errorf("upstream asked %d times for one name, want 1", q)
	}
}

func TestServerUDPMalformedAndResponses(t *testing.T) {
	s, _ := startServer(t, nil)
	conn, err := net.Dial("udp", s.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A header announcing a question that is not there: FORMERR.
	if _, err := conn.Write([]byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	// A response and a runt must be dropped; the query after them answered.
	resp := query("db.", dns.TypeA)
	resp.Response = true
	wire, _ := resp.Pack()
	ok := query("db.", dns.TypeA)
	okWire, _ := ok.Pack()
	for _, b := range [][]byte{wire, {1, 2, 3}, okWire} {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []*dns.Msg
	buf := make([]byte, 4096)
	for len(got) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(got), err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	// The server answers packets concurrently: the replies may come in
	// either order, so they are told apart by ID.
	if got[0].Id != 0xbeef {
		got[0], got[1] = got[1], got[0]
	}
	if got[0].Id != 0xbeef || got[0].Rcode != dns.RcodeFormatError {
		t.Errorf("reply %v, want FORMERR for id 0xbeef", got[0])
	}
	if got[1].Id != ok.Id || len(got[1].Answer) != 2 {
		t.Errorf("reply %v, want the answer to the query", got[1])
	}
}

// TestForwardOnlyForPodsAndHost: a client that is neither a pod of the
// cluster nor the host gets cluster names but no forwarding, so the
// server is no open resolver even where it is reachable.
func TestForwardOnlyForPodsAndHost(t *testing.T) {
	up := startUpstream(t)
	s, reg := startServer(t, func(c *Config) {
		c.Upstreams = []string{up.addr}
		c.ForwardFor = []netip.Prefix{netip.MustParsePrefix("10.88.0.0/16"), netip.MustParsePrefix("192.168.1.12/32")}
	})
	for _, tc := range []struct {
		client string
		name   string
		rcode  int // -1: forwarded (nil from local)
	}{
		{"127.0.0.1", "example.com.", -1},
		{"::1", "example.com.", -1},
		{"10.88.3.7", "example.com.", -1},
		{"192.168.1.12", "example.com.", -1},
		{"192.168.1.99", "example.com.", dns.RcodeRefused},
		{"203.0.113.5", "example.com.", dns.RcodeRefused},
		{"203.0.113.5", "web.default.svc.cluster.local.", dns.RcodeSuccess},
	} {
		resp := s.local(query(tc.name, dns.TypeA), netip.MustParseAddr(tc.client))
		switch {
		case tc.rcode < 0 && resp != nil:
			t.Errorf("%s asking %s: answered locally (%s), want forwarded", tc.client, tc.name, dns.RcodeToString[resp.Rcode])
		case tc.rcode >= 0 && (resp == nil || resp.Rcode != tc.rcode):
			t.Errorf("%s asking %s: %v, want %s", tc.client, tc.name, resp, dns.RcodeToString[tc.rcode])
		}
	}
	if got := counter(t, reg, "shoal_dns_forward_refused_total", ""); got != 2 {
		t.Errorf("forward_refused = %v, want 2", got)
	}
}
