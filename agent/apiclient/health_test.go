package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// freezer relays TCP to target until frozen, then holds every byte in
// both directions without closing anything: a peer whose machine died or
// that a partition cut off.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen chan struct{}
	done   chan struct{} // the test is over: held relays end
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, frozen: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		close(f.done)
		ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	go f.serve()
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		go f.relay(up, c)
		go f.relay(c, up)
	}
}

func (f *freezer) relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-f.frozen:
				<-f.done // held: never forwarded, never closed
				return
			default:
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { close(f.frozen) }

// TestDeadConnectionNoticed: a request on an HTTP/2 connection whose
// peer went silent fails once a ping goes unanswered, instead of
// waiting for TCP to give up (about 15 minutes).
func TestDeadConnectionNoticed(t *testing.T) {
	saved := deadConnPing
	deadConnPing = 200 * time.Millisecond
	defer func() { deadConnPing = saved }()

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	f := newFreezer(t, srv.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	hc := NewHTTPClient(&tls.Config{RootCAs: pool})
	url := "https://" + f.ln.Addr().String() + "/"

	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("spoke %s, want HTTP/2 (its one shared connection is what the pings watch)", resp.Proto)
	}

	f.freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err = hc.Do(req)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a request through a frozen connection was answered")
	}
	if errors.Is(err, context.DeadlineExceeded) || took > 5*time.Second {
		t.Fatalf("the request waited %v (%v): the dead connection was not noticed", took.Round(time.Millisecond), err)
	}
	t.Logf("failed after %v: %v", took.Round(time.Millisecond), err)
}
