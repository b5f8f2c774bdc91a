package consensus

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"shoal/cluster"
	"shoal/internal/poll"
)

// netWait bounds waits on real sockets: handshakes and elections over
// loopback under -race on a loaded machine take far longer than in memory.
const netWait = 30 * time.Second

// testCA issues certificates for one test trust domain.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf issues a certificate for a member on loopback, good for serving
// and for dialling.
func (ca *testCA) leaf(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// clientConfig dials addr trusting ca, presenting certs (none: no client
// certificate).
func (ca *testCA) clientConfig(addr string, certs ...tls.Certificate) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{RootCAs: ca.pool, Certificates: certs, ServerName: host, MinVersion: tls.VersionTLS12}
}

// raftTLS is a member's RaftTLS: it serves and dials with cert, and
// trusts ca both ways.
func (ca *testCA) raftTLS(cert tls.Certificate) *RaftTLS {
	return &RaftTLS{
		Server: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    ca.pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		Client: func(addr string) *tls.Config { return ca.clientConfig(addr, cert) },
	}
}

// netTimings are Raft timers for members on real sockets: fast enough
// for a quick test, slow enough that TLS handshakes under -race on a busy
// machine do not cause election churn.
func netTimings(cfg *Config) {
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 300 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
}

// openTLSMember opens a member on a loopback port with a data dir and
// mutual TLS; fn adjusts its config further.
func openTLSMember(t testing.TB, id string, rt *RaftTLS, bootstrap bool, fn func(*Config)) *Store {
	t.Helper()
	s, err := Open(testConfig(t, id, func(cfg *Config) {
		netTimings(cfg)
		cfg.DataDir = t.TempDir()
		cfg.BindAddr = "127.0.0.1:0"
		cfg.Bootstrap = bootstrap
		cfg.TLS = rt
		if fn != nil {
			fn(cfg)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestTLSClusterReplicates(t *testing.T) {
	ca := newTestCA(t, "raft-ca")
	var stores []*Store
	for i := range 3 {
		id := "n" + strconv.Itoa(i)
		stores = append(stores, openTLSMember(t, id, ca.raftTLS(ca.leaf(t, id)), i == 0, nil))
		if i == 0 {
			poll.Until(t, netWait, "n0 to lead", poll.Bool(stores[0].IsLeader))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), netWait)
	defer cancel()
	for _, s := range stores[1:] {
		if !strings.HasPrefix(s.LocalAddr(), "127.0.0.1:") {
			t.Fatalf("%s advertises %s", s.ID(), s.LocalAddr())
		}
		if err := stores[0].AddVoter(ctx, s.ID(), s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}

	c := &testCluster{stores: stores}
	leader := c.leader(t)
	servers, err := leader.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("servers %+v, %v", servers, err)
	}
	rs := mustApply(t, leader, &PutNode{Node: testNode("tls-node", 1000, 1<<30)})
	for _, s := range stores {
		if err := s.WaitForIndex(ctx, rs[0].Index); err != nil {
			t.Fatalf("%s: %v", s.ID(), err)
		}
		if _, ok := s.State().Node("tls-node"); !ok {
			t.Errorf("%s: node not replicated at index %d", s.ID(), s.State().Index())
		}
	}
}

// logRecorder keeps every log record at debug and above.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *logRecorder) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelDebug }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler            { return r }
func (r *logRecorder) WithGroup(string) slog.Handler                 { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// find returns the attributes of the first record at level with msg.
func (r *logRecorder) find(lv slog.Level, msg string) (map[string]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Level == lv && rec.Message == msg {
			attrs := map[string]string{}
			rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			return attrs, true
		}
	}
	return nil, false
}

// errorMsgs returns the messages logged at error level or above.
func (r *logRecorder) errorMsgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level >= slog.LevelError {
			out = append(out, rec.Message)
		}
	}
	return out
}

const handshakeFailedMsg = "raft TLS handshake failed, connection dropped"

// raftPosition is what a forged AppendEntries would move.
type raftPosition struct{ term, lastIndex, lastTerm, applied uint64 }

func positionOf(t testing.TB, s *Store) raftPosition {
	t.Helper()
	st := s.Stats()
	var p raftPosition
	for _, f := range []struct {
		key string
		v   *uint64
	}{{"term", &p.term}, {"last_log_index", &p.lastIndex}, {"last_log_term", &p.lastTerm}} {
		v, err := strconv.ParseUint(st[f.key], 10, 64)
		if err != nil {
			t.Fatalf("stats %s: %v", f.key, err)
		}
		*f.v = v
	}
	p.applied = s.State().Index()
	return p
}

// forgedAppendEntries is an AppendEntries RPC as raft's NetworkTransport
// writes it (rpc type byte 0, then the msgpack request), from a made-up
// leader in a newer term, carrying one committed entry that puts node
// "forged". Any member that reads it applies the node.
func forgedAppendEntries(t testing.TB, at raftPosition) []byte {
	t.Helper()
	cmd, err := encodeCommand(&PutNode{Node: &cluster.Node{Name: "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	term := at.term + 1
	req := raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{
			ProtocolVersion: raft.ProtocolVersionMax,
			ID:              []byte("forger"),
			Addr:            []byte("127.0.0.1:9"),
		},
		Term:         term,
		PrevLogEntry: at.lastIndex,
		PrevLogTerm:  at.lastTerm,
		Entries: []*raft.Log{{
			Index: at.lastIndex + 1, Term: term, Type: raft.LogCommand,
			Data: encodeBatch([][]byte{cmd}),
		}},
		LeaderCommitIndex: at.lastIndex + 1,
	}
	var buf bytes.Buffer
	buf.WriteByte(0) // rpcAppendEntries
	// The handle raft's NetworkTransport encodes with (old time format).
	h := &codec.MsgpackHandle{}
	h.TimeNotBuiltin = true
	if err := codec.NewEncoder(&buf, h).Encode(&req); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAppendEntriesResponse reads raft's reply: an error string, then
// the response.
func readAppendEntriesResponse(conn net.Conn) (*raft.AppendEntriesResponse, error) {
	dec := codec.NewDecoder(conn, &codec.MsgpackHandle{})
	var rpcErr string
	if err := dec.Decode(&rpcErr); err != nil {
		return nil, err
	}
	if rpcErr != "" {
		return nil, errors.New(rpcErr)
	}
	var resp raft.AppendEntriesResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// TestTLSDropsUnauthenticatedPeers sends a forged AppendEntries to a TLS
// member from peers it must not trust: each is dropped at the handshake,
// before raft decodes a byte, so the member's term and state stay put. A
// peer with a member certificate, the control, shows the RPC would work.
func TestTLSDropsUnauthenticatedPeers(t *testing.T) {
	ca := newTestCA(t, "raft-ca")
	otherCA := newTestCA(t, "other-ca")
	tests := []struct {
		name string
		// client returns the client side of the connection: raw is
		// plain TCP to the member.
		client func(raw net.Conn) net.Conn
		// wantLogged is in the error of the member's warning.
		wantLogged  string
		wantApplied bool
	}{
		{
			name:       "plain TCP",
			client:     func(raw net.Conn) net.Conn { return raw },
			wantLogged: "does not look like a TLS handshake",
		},
		{
			name: "certificate from another CA",
			client: func(raw net.Conn) net.Conn {
				intruder := otherCA.leaf(t, "intruder")
				cfg := ca.clientConfig(raw.RemoteAddr().String())
				// Present it even though the server names only its own CA
				// as acceptable (crypto/tls would otherwise send none).
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil }
				return tls.Client(raw, cfg)
			},
			wantLogged: "certificate signed by unknown authority",
		},
		{
			name: "no client certificate",
			client: func(raw net.Conn) net.Conn {
				return tls.Client(raw, ca.clientConfig(raw.RemoteAddr().String()))
			},
			wantLogged: "didn't provide a certificate",
		},
		{
			name: "member certificate (control)",
			client: func(raw net.Conn) net.Conn {
				return tls.Client(raw, ca.clientConfig(raw.RemoteAddr().String(), ca.leaf(t, "n9")))
			},
			wantApplied: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			s := openTLSMember(t, "m", ca.raftTLS(ca.leaf(t, "m")), true, func(cfg *Config) {
				cfg.Logger = slog.New(rec)
			})
			poll.Until(t, netWait, "leadership", poll.Bool(s.IsLeader))
			ctx, cancel := context.WithTimeout(context.Background(), netWait)
			defer cancel()
			if err := s.Barrier(ctx); err != nil {
				t.Fatal(err)
			}
			before := positionOf(t, s)

			raw, err := net.DialTimeout("tcp", s.LocalAddr(), netWait)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn := tt.client(raw)
			if err := conn.SetDeadline(time.Now().Add(netWait)); err != nil {
				t.Fatal(err)
			}
			// Under TLS 1.3 the client's handshake ends before the server
			// has checked the client's certificate, so a refused client
			// may get this far and learn on its first read.
			_, werr := conn.Write(forgedAppendEntries(t, before))
			resp, rerr := readAppendEntriesResponse(conn)

			if tt.wantApplied {
				if werr != nil || rerr != nil || !resp.Success {
					t.Fatalf("control RPC: write %v, read %v, response %+v", werr, rerr, resp)
				}
				poll.Until(t, netWait, "the forged node", poll.Bool(func() bool { _, ok := s.State().Node("forged"); return ok }))
				return
			}

			if rerr == nil {
				t.Fatalf("member answered the RPC: %+v", resp)
			}
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				t.Fatalf("connection left open: %v", rerr)
			}
			t.Logf("client sees: write %v, read %v", werr, rerr)
			remote := raw.LocalAddr().String()
			poll.Until(t, netWait, "the handshake failure logged", func() (bool, string) {
				attrs, ok := rec.find(slog.LevelWarn, handshakeFailedMsg)
				if !ok {
					return false, "no warning"
				}
				return attrs["remote"] == remote, "remote " + attrs["remote"] + ", want " + remote
			})
			if attrs, _ := rec.find(slog.LevelWarn, handshakeFailedMsg); !strings.Contains(attrs["error"], tt.wantLogged) {
				t.Errorf("logged error %q, want %q", attrs["error"], tt.wantLogged)
			}
			if errs := rec.errorMsgs(); len(errs) > 0 {
				t.Errorf("logged at error level: %q", errs)
			}
			if after := positionOf(t, s); after != before {
				t.Errorf("raft moved: %+v, was %+v", after, before)
			}
			if _, ok := s.State().Node("forged"); ok {
				t.Error("forged node applied")
			}
			if !s.IsLeader() {
				t.Error("member stepped down")
			}
		})
	}
}

// testStream is a TLS stream layer on loopback that logs into rec.
func testStream(t testing.TB, rt *RaftTLS, rec *logRecorder) *tlsStream {
	t.Helper()
	if err := rt.validate(); err != nil {
		t.Fatal(err)
	}
	st, err := newTLSStream("127.0.0.1:0", nil, rt, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

type acceptResult struct {
	conn net.Conn
	err  error
}

// acceptOne accepts one connection in the background.
func acceptOne(st *tlsStream) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := st.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func waitAccept(t testing.TB, ch <-chan acceptResult, what string) net.Conn {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept %s: %v", what, r.err)
		}
		t.Cleanup(func() { _ = r.conn.Close() })
		return r.conn
	case <-time.After(netWait):
		t.Fatalf("accept %s: timed out", what)
		return nil
	}
}

// TestTLSAcceptIsLazy checks that Accept does not wait for a handshake, so
// a silent peer holds up no one, and that the handshake the first Read
// does is bounded: the silent peer is dropped when it runs out.
func TestTLSAcceptIsLazy(t *testing.T) {
	ca := newTestCA(t, "raft-ca")
	rec := &logRecorder{}
	st := testStream(t, ca.raftTLS(ca.leaf(t, "server")), rec)
	// So long that Accept, if it handshook, could not return in time.
	st.handshakeTimeout = 10 * time.Minute

	silent, err := net.DialTimeout("tcp", st.Addr().String(), netWait)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	waitAccept(t, acceptOne(st), "silent peer")

	// A member connects and is served while the silent peer sits there.
	// Its Dial returns once the server side, reading, has handshaken.
	accepted := acceptOne(st)
	type readResult struct {
		got   string
		err   error
		peers int
	}
	served := make(chan readResult, 1)
	go func() {
		r := <-accepted
		if r.err != nil {
			served <- readResult{err: r.err}
			return
		}
		defer r.conn.Close()
		got := make([]byte, 4)
		_ = r.conn.SetReadDeadline(time.Now().Add(netWait))
		_, err := io.ReadFull(r.conn, got)
		served <- readResult{string(got), err, len(r.conn.(*lazyServerConn).ConnectionState().PeerCertificates)}
	}()
	member, err := st.Dial(raft.ServerAddress(st.Addr().String()), netWait)
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	if _, err := member.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if r := <-served; r.err != nil || r.got != "ping" || r.peers == 0 {
		t.Fatalf("server read %q, %v, %d client certificates", r.got, r.err, r.peers)
	}

	// With a short handshake timeout, a silent peer is dropped.
	st.handshakeTimeout = 200 * time.Millisecond
	slow, err := net.DialTimeout("tcp", st.Addr().String(), netWait)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	sc := waitAccept(t, acceptOne(st), "slow peer")
	start := time.Now()
	if n, err := sc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read on a timed-out handshake: %d, %v", n, err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("handshake gave up after %v", waited)
	}
	if _, err := sc.Write([]byte("x")); err == nil {
		t.Error("write after a failed handshake succeeded")
	}
	// The peer sees the connection closed.
	if err := slow.SetReadDeadline(time.Now().Add(netWait)); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("slow peer read: %v, want the connection closed", err)
	}
	attrs, ok := rec.find(slog.LevelWarn, handshakeFailedMsg)
	if !ok || attrs["remote"] != slow.LocalAddr().String() {
		t.Errorf("warning %v (found %v), want remote %s", attrs, ok, slow.LocalAddr())
	}
}

func TestTLSDial(t *testing.T) {
	ca := newTestCA(t, "raft-ca")
	otherCA := newTestCA(t, "other-ca")
	server := testStream(t, ca.raftTLS(ca.leaf(t, "server")), &logRecorder{})
	go func() {
		// Serve: read, which handshakes, until the stream closes.
		for {
			c, err := server.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	addr := server.Addr().String()

	tests := []struct {
		name    string
		client  *RaftTLS
		wantErr string // "" for success
	}{
		{"member", ca.raftTLS(ca.leaf(t, "client")), ""},
		{"server from another CA", otherCA.raftTLS(otherCA.leaf(t, "client")), "certificate signed by unknown authority"},
		{"no client config", &RaftTLS{Server: ca.raftTLS(ca.leaf(t, "c")).Server, Client: func(string) *tls.Config { return nil }}, "no TLS client config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := testStream(t, tt.client, &logRecorder{})
			c, err := st.Dial(raft.ServerAddress(addr), netWait)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if !c.(*tls.Conn).ConnectionState().HandshakeComplete {
					t.Error("Dial returned before the handshake")
				}
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), addr) {
				t.Errorf("error %q, want %q and the address %s", err, tt.wantErr, addr)
			}
		})
	}
}

func TestTLSConfigRefused(t *testing.T) {
	ca := newTestCA(t, "raft-ca")
	cert := ca.leaf(t, "m")
	with := func(fn func(*RaftTLS)) *RaftTLS {
		rt := ca.raftTLS(cert)
		fn(rt)
		return rt
	}
	authMode := func(a tls.ClientAuthType) *RaftTLS { return with(func(rt *RaftTLS) { rt.Server.ClientAuth = a }) }
	tests := []struct {
		name      string
		tls       *RaftTLS
		transport bool
		wantErr   string
	}{
		{"no client auth", authMode(tls.NoClientCert), false, "want RequireAndVerifyClientCert"},
		{"client cert requested", authMode(tls.RequestClientCert), false, "want RequireAndVerifyClientCert"},
		{"any client cert", authMode(tls.RequireAnyClientCert), false, "want RequireAndVerifyClientCert"},
		{"verified if given", authMode(tls.VerifyClientCertIfGiven), false, "want RequireAndVerifyClientCert"},
		{"no server config", with(func(rt *RaftTLS) { rt.Server = nil }), false, "no server config"},
		{"no client func", with(func(rt *RaftTLS) { rt.Client = nil }), false, "no client config func"},
		{"no certificate", with(func(rt *RaftTLS) { rt.Server.Certificates = nil }), false, "no certificate"},
		{"with a given transport", ca.raftTLS(cert), true, "TLS set with a given Transport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Open(testConfig(t, "m", func(cfg *Config) {
				cfg.DataDir = dir
				cfg.BindAddr = "127.0.0.1:0"
				cfg.Bootstrap = true
				cfg.TLS = tt.tls
				if tt.transport {
					_, cfg.Transport = raft.NewInmemTransport("mem-tls")
				}
			}))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("open: %v, want ErrInvalid with %q", err, tt.wantErr)
			}
			t.Log(err)
			if _, err := os.Stat(filepath.Join(dir, "raft")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("open left %s/raft behind: %v", dir, err)
			}
		})
	}
}
