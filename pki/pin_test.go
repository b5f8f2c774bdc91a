package pki

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestPinned(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	other := newCA(t, "cluster2", t0)
	seed := newIdentity(t, ca, "seed")
	leafOnly := seed.ServerTLS(tls.NoClientCert)
	leafOnly.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, _ := seed.ServerTLS(tls.NoClientCert).GetCertificate(nil)
		return &tls.Certificate{Certificate: c.Certificate[:1], PrivateKey: c.PrivateKey}, nil
	}
	// An impostor that shows the real CA next to a leaf of its own CA.
	impostor := newIdentity(t, other, "seed")
	forged := impostor.ServerTLS(tls.NoClientCert)
	forged.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c, _ := impostor.ServerTLS(tls.NoClientCert).GetCertificate(nil)
		return &tls.Certificate{Certificate: [][]byte{c.Certificate[0], ca.Cert.Raw}, PrivateKey: c.PrivateKey}, nil
	}
	// The CA's own key serving the CA's certificate is the cluster itself.
	caItself := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Key}}}

	tests := []struct {
		name   string
		server *tls.Config
		pin    string
		want   []string // substrings of the client's error; nil for success
	}{
		{"right digest", seed.ServerTLS(tls.VerifyClientCertIfGiven), ca.Digest(), nil},
		{"digest as pasted", seed.ServerTLS(tls.VerifyClientCertIfGiven), " " + strings.ToUpper(ca.Digest()) + "\n", nil},
		{"CA itself", caItself, ca.Digest(), nil},
		{"wrong digest", seed.ServerTLS(tls.VerifyClientCertIfGiven), other.Digest(),
			[]string{"the seed's CA has digest " + ca.Digest(), "the join token pins " + other.Digest(), "wrong token"}},
		{"leaf only", leafOnly, ca.Digest(), []string{"the join token pins " + ca.Digest(), "no CA certificate"}},
		{"forged chain", forged, ca.Digest(), []string{"does not verify against the pinned CA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPinned(tt.pin)
			_, err := handshake(t, tt.server, p.TLS())
			if tt.want == nil {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				if p.CA() == nil || !p.CA().Equal(ca.Cert) {
					t.Errorf("CA() = %v, want the cluster CA", p.CA())
				}
				return
			}
			if err == nil {
				t.Fatal("handshake succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if p.CA() != nil {
				t.Error("CA() is set after a failed handshake")
			}
		})
	}
}

func TestPinnedBeforeHandshake(t *testing.T) {
	p := NewPinned(newCA(t, "c", t0).Digest())
	if p.CA() != nil {
		t.Error("CA() is set before any handshake")
	}
	if cfg := p.TLS(); !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil {
		t.Error("TLS() must replace the standard verification with its own")
	}
}
