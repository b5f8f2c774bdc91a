package consensus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/net/netutil"
)

// RaftTLS makes the Raft transport mutual TLS: every member serves with
// Server and dials with Client(addr). A peer that does not present a
// certificate the server accepts is dropped at the handshake.
type RaftTLS struct {
	// Server is the config every accepted connection is served with. Its
	// ClientAuth must be tls.RequireAndVerifyClientCert: Open refuses to
	// start otherwise.
	Server *tls.Config
	// Client returns the config to dial the member at addr (HOST:PORT);
	// the caller sets RootCAs, the client certificate and ServerName.
	Client func(addr string) *tls.Config
}

// validate reports a RaftTLS that would let an unauthenticated peer in, or
// could not serve at all.
func (c *RaftTLS) validate() error {
	switch {
	case c.Server == nil:
		return fmt.Errorf("%w: raft TLS: no server config", ErrInvalid)
	case c.Client == nil:
		return fmt.Errorf("%w: raft TLS: no client config func", ErrInvalid)
	case c.Server.ClientAuth != tls.RequireAndVerifyClientCert:
		return fmt.Errorf("%w: raft TLS: server ClientAuth is %v, want RequireAndVerifyClientCert: "+
			"a member must not accept Raft traffic from a peer without a verified certificate",
			ErrInvalid, c.Server.ClientAuth)
	case len(c.Server.Certificates) == 0 && c.Server.GetCertificate == nil && c.Server.GetConfigForClient == nil:
		return fmt.Errorf("%w: raft TLS: server config has no certificate", ErrInvalid)
	}
	return nil
}

// tlsHandshakeTimeout bounds an accepted connection's TLS handshake; a
// dialled one's is bounded by raft's dial timeout.
const tlsHandshakeTimeout = 10 * time.Second

// maxRaftConns caps the Raft port's open connections.
const maxRaftConns = 1024

// tlsStream is the raft.StreamLayer of a mutual-TLS transport.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	cfg       *RaftTLS
	log       *slog.Logger
	// handshakeTimeout bounds an accepted connection's handshake
	// (tlsHandshakeTimeout; tests shorten it).
	handshakeTimeout time.Duration
}

var _ raft.StreamLayer = (*tlsStream)(nil)

// newTLSStream listens on bind. advertise, if not nil, is the address
// other members dial, as with raft's TCP transport. The caller has
// validated cfg.
func newTLSStream(bind string, advertise net.Addr, cfg *RaftTLS, log *slog.Logger) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("listen for raft on %s: %w", bind, err)
	}
	// A flood of connections that never finish their handshake holds
	// each for up to the handshake timeout; the cap keeps that from
	// exhausting the agent's file descriptors. Members pool a few
	// connections each, far below it.
	ln = netutil.LimitListener(ln, maxRaftConns)
	s := &tlsStream{ln: ln, advertise: advertise, cfg: cfg, log: log, handshakeTimeout: tlsHandshakeTimeout}
	// As raft's TCP transport does: members must be able to dial us back.
	if a, ok := s.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("listen for raft on %s: address %s is not advertisable (set Advertise)", bind, s.Addr())
	}
	return s, nil
}

// Accept returns the next connection as the server side of TLS, without
// handshaking: Accept runs in raft's single accept loop, where a peer that
// stalls its handshake would hold up every other member's connection. The
// handshake happens, bounded by handshakeTimeout, on the first Read or
// Write, in the goroutine raft gives each connection.
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &lazyServerConn{Conn: tls.Server(c, s.cfg.Server), timeout: s.handshakeTimeout, log: s.log}, nil
}

// Dial connects to the member at address and completes the TLS handshake,
// both within timeout.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	addr := string(address)
	cfg := s.cfg.Client(addr)
	if cfg == nil {
		return nil, fmt.Errorf("dial raft member %s: no TLS client config", addr)
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial raft member %s: %w", addr, err)
	}
	c := tls.Client(raw, cfg)
	if err := handshake(ctx, c); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("TLS handshake with raft member %s: %w", addr, err)
	}
	return c, nil
}

// Close stops accepting connections.
func (s *tlsStream) Close() error { return s.ln.Close() }

// Addr is the advertise address if set, else the listener's.
func (s *tlsStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// handshake runs c's handshake within ctx. The deadline, taken from ctx,
// bounds every read and write of the handshake; it is cleared afterwards,
// as raft sets its own per RPC, and none on accepted connections.
func handshake(ctx context.Context, c *tls.Conn) error {
	if d, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(d); err != nil {
			return err
		}
	}
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

// lazyServerConn is an accepted TLS connection whose handshake runs on the
// first Read or Write.
type lazyServerConn struct {
	*tls.Conn
	timeout time.Duration
	log     *slog.Logger

	once sync.Once
	err  error // the handshake's, once done
}

func (c *lazyServerConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		err := handshake(ctx, c.Conn)
		if err == nil {
			return
		}
		c.err = err
		remote := c.RemoteAddr().String()
		_ = c.Conn.Close()
		lv := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			lv = slog.LevelDebug // connected and left: a port probe
		}
		c.log.Log(context.Background(), lv, "raft TLS handshake failed, connection dropped",
			"remote", remote, "error", err)
	})
	return c.err
}

// Read handshakes first. After a failed handshake it reports io.EOF: the
// failure is logged above, and raft's connection handler, which ends on
// EOF silently, would log anything else at error level as a bad command.
func (c *lazyServerConn) Read(b []byte) (int, error) {
	if c.handshake() != nil {
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

// Write handshakes first.
func (c *lazyServerConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, fmt.Errorf("raft TLS handshake: %w", err)
	}
	return c.Conn.Write(b)
}
