package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' clock: the package reads none, so tests pick theirs.
var t0 = time.Now().Truncate(time.Second)

func newCA(t *testing.T, clusterID string, now time.Time) *CA {
	t.Helper()
	ca, err := NewCA(clusterID, now)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// newNode issues a node certificate and returns it with its key, as PEM.
func newNode(t *testing.T, ca *CA, req NodeRequest, now time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err = ca.SignNode(&key.PublicKey, req, now)
	if err != nil {
		t.Fatalf("SignNode(%+v): %v", req, err)
	}
	keyPEM, err = EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func newIdentity(t *testing.T, ca *CA, name string) *Identity {
	t.Helper()
	certPEM, keyPEM := newNode(t, ca, NodeRequest{Name: name, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, t0)
	id, err := NewIdentity(certPEM, keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatalf("NewIdentity: %v", err)
	}
	return id
}

// signOther issues a certificate from ca that is not a node certificate
// unless subject says so: what an API client certificate might look like.
func signOther(t *testing.T, ca *CA, subject pkix.Name, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"other"},
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// serve accepts TLS connections on loopback until the test ends. Each
// connection is handshaken, sent one byte and closed; the handshake's
// result goes to the returned channel while it has room.
func serve(t *testing.T, cfg *tls.Config) (addr string, results <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case errs <- serveOne(tls.Server(c, cfg)):
			default: // nobody is asking
			}
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), errs
}

func serveOne(c *tls.Conn) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return err
	}
	_, err := c.Write([]byte{1})
	return err
}

// dial handshakes with addr and reads the server's byte: under TLS 1.3 the
// client's handshake ends before the server has checked the client's
// certificate, so a refusal only shows on that read.
func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return tls.ConnectionState{}, err
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

// handshake runs one connection between the two configurations and
// returns each side's error.
func handshake(t *testing.T, server, client *tls.Config) (srvErr, cliErr error) {
	t.Helper()
	addr, results := serve(t, server)
	_, cliErr = dial(addr, client)
	select {
	case srvErr = <-results:
	case <-time.After(20 * time.Second):
		srvErr = errors.New("the server never finished the handshake")
	}
	return srvErr, cliErr
}

func mustPub(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := EncodePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
