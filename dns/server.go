package dns

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"shoal/cluster"
)

// Errors returned by the server.
var (
	// ErrNoAddrs: the server has no listen address. There is deliberately
	// no default: binding every interface would make an open resolver.
	ErrNoAddrs = errors.New("dns: no listen addresses")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("dns: server already started")
)

// resolvConf is where the default upstreams come from.
const resolvConf = "/etc/resolv.conf"

// forwardTimeout bounds everything the server does for one forwarded query.
const forwardTimeout = 5 * time.Second

// Config is the DNS server's configuration; zero fields take defaults.
type Config struct {
	// Addrs are the HOST:PORT addresses to answer on, each over UDP and
	// TCP. Port 0 picks a free port (the same for UDP and TCP); Addrs
	// reports what was bound.
	Addrs []string
	// Domain is the cluster domain; default the cluster's configured
	// domain, else cluster.local.
	Domain string
	// TTL of cluster answers; default DefaultTTL.
	TTL time.Duration
	// Upstreams are the HOST:PORT resolvers for other names; default the
	// nameservers of the host's /etc/resolv.conf, minus the server's own
	// listen addresses (forwarding to itself would loop).
	Upstreams []string
	// ForwardFor are the clients whose queries for names outside the
	// cluster are forwarded (the node's pods and the host itself);
	// loopback always is. Others get REFUSED for such names, so a server
	// reachable from elsewhere is never an open resolver. Cluster names
	// are answered for every client.
	ForwardFor []netip.Prefix
	// CacheSize bounds the forwarded-answer cache; default
	// DefaultCacheSize.
	CacheSize int
	// RateLimit limits each client IP; default DefaultRateQPS.
	RateLimit RateLimit
	// Registry receives the metrics; nil keeps them private.
	Registry prometheus.Registerer
	// Logger; default slog.Default().
	Logger *slog.Logger
	// UDPReaders is how many goroutines read each UDP address, each from
	// its own SO_REUSEPORT socket on Linux; default GOMAXPROCS (at most
	// maxUDPReaders).
	UDPReaders int
}

// Server is the agent's DNS server: Handle behind UDP and TCP listeners,
// with forwarding, a per-client rate limit and metrics.
type Server struct {
	domain string
	ttl    time.Duration
	addrs  []string
	log    *slog.Logger
	table  atomic.Pointer[Table]
	// updateMu serialises Updates; lastPrint is the fingerprint of the
	// state the current table was built from.
	updateMu   sync.Mutex
	seed       maphash.Seed
	lastPrint  uint64
	fwd        *forwarder
	limit      *limiter
	metrics    *metrics
	bufs       sync.Pool
	udpReaders int
	forwardFor []netip.Prefix

	mu      sync.Mutex
	started bool
	ctx     context.Context // cancelled by Shutdown: ends forwarded queries
	cancel  context.CancelFunc
	servers []*dns.Server // TCP
	udp     []*net.UDPConn
	bound   []string
	done    sync.WaitGroup
}

// New returns a server answering from an empty cluster until Update.
func New(cfg Config) (*Server, error) {
	if len(cfg.Addrs) == 0 {
		return nil, ErrNoAddrs
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "dns")
	for _, a := range cfg.Addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("dns: listen address %q: %w", a, err)
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			log.Warn("listening on every interface: any host that reaches it can use it as a resolver", "addr", a)
		}
	}
	upstreams := cfg.Upstreams
	if upstreams == nil {
		var err error
		if upstreams, err = hostUpstreams(resolvConf, cfg.Addrs); err != nil {
			// Cluster names still work; other names get SERVFAIL.
			log.Warn("no upstream resolvers", "err", err)
		}
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		domain:     cfg.Domain,
		ttl:        cfg.TTL,
		addrs:      cfg.Addrs,
		log:        log,
		fwd:        newForwarder(upstreams, cfg.CacheSize),
		limit:      newLimiter(cfg.RateLimit),
		metrics:    m,
		seed:       maphash.MakeSeed(),
		udpReaders: cfg.UDPReaders,
		forwardFor: cfg.ForwardFor,
	}
	if s.udpReaders <= 0 {
		s.udpReaders = min(runtime.GOMAXPROCS(0), maxUDPReaders)
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.table.Store(BuildTable(cluster.Empty(), cfg.Domain, cfg.TTL))
	return s, nil
}

// hostUpstreams reads the nameservers from a resolv.conf, skipping the
// server's own addresses.
func hostUpstreams(path string, own []string) ([]string, error) {
	rc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dns: read %s: %w", path, err)
	}
	var out []string
	for _, ns := range rc.Servers {
		addr := net.JoinHostPort(ns, rc.Port)
		if !isOwn(addr, own) {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns: %s names no nameserver but this server", path)
	}
	return out, nil
}

func isOwn(addr string, own []string) bool {
	a, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	for _, o := range own {
		if b, err := netip.ParseAddrPort(o); err == nil && a.Addr().Unmap() == b.Addr().Unmap() && a.Port() == b.Port() {
			return true
		}
	}
	return false
}

// Update swaps in the answers for st. Queries already being answered keep
// the table they started with; the next one sees the new one. A state that
// changes nothing DNS answers from keeps the current table.
func (s *Server) Update(st *cluster.State) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	fp := fingerprint(s.seed, st, s.domain)
	if fp == s.lastPrint {
		return
	}
	s.table.Store(BuildTable(st, s.domain, s.ttl))
	s.lastPrint = fp
}

// Table is the table queries are answered from now.
func (s *Server) Table() *Table { return s.table.Load() }

// Start binds every listen address over UDP and TCP and serves in the
// background until Shutdown. It returns once all sockets accept queries.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrStarted
	}
	s.started = true
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	sockets, readers := s.udpReaders, 1
	if !reusePort {
		sockets, readers = 1, s.udpReaders
	}
	for _, addr := range s.addrs {
		pcs, l, err := listen(ctx, addr, sockets)
		if err != nil {
			_ = s.stopLocked(ctx)
			return err
		}
		if err := steerUDP(pcs); err != nil {
			// Hashing by client still works, only less evenly.
			s.log.Warn("udp sockets keep the kernel's spread by client", "addr", addr, "err", err)
		}
		s.bound = append(s.bound, pcs[0].LocalAddr().String())
		s.udp = append(s.udp, pcs...)
		for _, pc := range pcs {
			for range readers {
				s.done.Add(1)
				go s.serveUDP(pc)
			}
		}
		if err := s.serve(&dns.Server{Listener: l, Handler: s}); err != nil {
			_ = s.stopLocked(ctx)
			return err
		}
	}
	s.log.Info("serving", "addrs", s.bound)
	return nil
}

// listen binds addr over UDP, then TCP on the same port, so that a client
// retrying a truncated answer over TCP finds the server where it was. With
// port 0 the port the kernel picks for UDP may be taken for TCP: try again.
// Then it binds sockets-1 more UDP sockets to the same address (with
// SO_REUSEPORT, which all of them set). The TCP listener does not set it:
// a second server started on the same address fails on it, as it did
// before, instead of quietly taking a share of the queries.
func listen(ctx context.Context, addr string, sockets int) ([]*net.UDPConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen %s: %w", addr, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 20
	}
	for i := 0; ; i++ {
		pc, err := listenUDP(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			pcs, err := moreUDP(ctx, pc, sockets)
			if err != nil {
				_ = l.Close()
				return nil, nil, err
			}
			return pcs, l, nil
		}
		_ = pc.Close()
		if i+1 >= attempts {
			return nil, nil, fmt.Errorf("dns: listen tcp %s: %w", addr, err)
		}
	}
}

// moreUDP binds sockets-1 more UDP sockets beside pc, closing all of them
// if one fails.
func moreUDP(ctx context.Context, pc *net.UDPConn, sockets int) ([]*net.UDPConn, error) {
	pcs := []*net.UDPConn{pc}
	for len(pcs) < sockets {
		more, err := listenUDP(ctx, pc.LocalAddr().String())
		if err != nil {
			for _, c := range pcs {
				_ = c.Close()
			}
			return nil, err
		}
		pcs = append(pcs, more)
	}
	return pcs, nil
}

func listenUDP(ctx context.Context, addr string) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: reusePortControl}
	c, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns: listen udp %s: %w", addr, err)
	}
	return c.(*net.UDPConn), nil
}

// serve runs srv in the background and waits until it is accepting, so a
// Shutdown right after Start finds it started.
func (s *Server) serve(srv *dns.Server) error {
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	s.servers = append(s.servers, srv)
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := srv.ActivateAndServe(); err != nil {
			failed <- err
			s.log.Error("dns listener stopped", "err", err)
		}
	}()
	select {
	case <-started:
		return nil
	case err := <-failed:
		return fmt.Errorf("dns: serve: %w", err)
	}
}

// Addrs are the bound UDP addresses (TCP uses the same ones), in the order
// of Config.Addrs; with port 0 they carry the port the kernel chose.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bound...)
}

// Shutdown stops the listeners and waits for queries in progress, at most
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	for _, pc := range s.udp {
		// Closing the socket ends its read loops; queries being forwarded
		// finish (or are cancelled below) and are waited for.
		if err := pc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.udp = nil
	if s.cancel != nil {
		s.cancel()
	}
	done := make(chan struct{})
	go func() { s.done.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe serves until ctx is cancelled, then shuts down.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.Shutdown(shutdownCtx)
}

// ServeDNS implements dns.Handler for the TCP listeners (UDP has its own
// loop, udp.go): rate limit, Handle or forward, fit, write.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	udp := false
	var client netip.Addr
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		udp = true
		client = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		client = a.AddrPort().Addr().Unmap()
	}
	resp := s.local(req, client)
	if resp == nil {
		resp = s.forward(req)
	}
	s.respond(req, resp, udp, start, w.Write)
}

// local answers req from client without blocking: REFUSED over the rate
// limit, else from the table. nil means the query must be forwarded.
func (s *Server) local(req *dns.Msg, client netip.Addr) *dns.Msg {
	return s.admitted(req, client, notAsked)
}

// admitted is local for a query the limiter may already have judged (adm).
func (s *Server) admitted(req *dns.Msg, client netip.Addr, adm admission) *dns.Msg {
	if adm == limited || adm == notAsked && !s.limit.allow(client) {
		s.metrics.rateLimited.Inc()
		return reply(req, dns.RcodeRefused)
	}
	if len(req.Question) > 0 {
		s.metrics.query(req.Question[0].Qtype)
	}
	resp := Handle(s.table.Load(), req)
	if resp == nil && !s.mayForward(client) {
		s.metrics.forwardRefused.Inc()
		return reply(req, dns.RcodeRefused)
	}
	return resp
}

// mayForward reports whether client's queries for other names are
// forwarded (see Config.ForwardFor).
func (s *Server) mayForward(client netip.Addr) bool {
	if client.IsLoopback() {
		return true
	}
	for _, p := range s.forwardFor {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// respond fits resp to the transport, packs it into a pooled buffer
// (cheaper than dns.ResponseWriter.WriteMsg, which allocates one per
// response) and writes it.
func (s *Server) respond(req, resp *dns.Msg, udp bool, start time.Time, write func([]byte) (int, error)) {
	Fit(req, resp, udp)
	// Counted before writing, so a client that has its answer sees it
	// counted; the duration includes the write.
	s.metrics.response(resp.Rcode)
	bp := s.bufs.Get().(*[]byte)
	out, err := resp.PackBuffer(*bp)
	if err != nil {
		s.log.Debug("pack response", "err", err)
	} else if _, err := write(out); err != nil {
		s.log.Debug("write response", "err", err)
	}
	if cap(out) <= dns.MaxMsgSize && cap(out) > cap(*bp) {
		*bp = out[:0]
	}
	s.bufs.Put(bp)
	s.metrics.duration.Observe(time.Since(start).Seconds())
}

func (s *Server) forward(req *dns.Msg) *dns.Msg {
	ctx, cancel := context.WithTimeout(s.ctx, forwardTimeout)
	defer cancel()
	resp, hit, sent, err := s.fwd.forward(ctx, req)
	if hit {
		s.metrics.cacheHits.Inc()
	}
	if sent {
		s.metrics.forwarded.Inc()
	}
	if err != nil {
		s.log.Debug("forward failed", "name", req.Question[0].Name, "err", err)
	}
	return resp
}
