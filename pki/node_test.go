package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignNode(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	ip4, ip6 := net.ParseIP("10.0.0.7"), net.ParseIP("fd00::7")
	tests := []struct {
		name      string
		req       NodeRequest
		wantDNS   []string
		wantIPs   []net.IP
		wantAfter time.Time
	}{
		{"defaults", NodeRequest{Name: "node-a"}, []string{"node-a"}, nil, t0.Add(365 * 24 * time.Hour)},
		{"SANs", NodeRequest{Name: "node-b", IPs: []net.IP{ip4, ip6}, DNSNames: []string{"b.example"}, TTL: time.Hour},
			[]string{"node-b", "b.example"}, []net.IP{ip4, ip6}, t0.Add(time.Hour)},
		{"duplicates dropped", NodeRequest{Name: "n.c", IPs: []net.IP{ip4, ip4.To4()}, DNSNames: []string{"n.c", "x"}},
			[]string{"n.c", "x"}, []net.IP{ip4}, t0.Add(DefaultNodeTTL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, _ := newNode(t, ca, tt.req, t0)
			c, err := ParseCert(certPEM)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject.CommonName != NodePrefix+tt.req.Name || !slices.Equal(c.Subject.Organization, []string{NodeOrg}) {
				t.Errorf("subject %v", c.Subject)
			}
			if !slices.Equal(c.DNSNames, tt.wantDNS) || !slices.EqualFunc(c.IPAddresses, tt.wantIPs, net.IP.Equal) {
				t.Errorf("SANs %v %v, want %v %v", c.DNSNames, c.IPAddresses, tt.wantDNS, tt.wantIPs)
			}
			if !c.NotBefore.Equal(t0.Add(-5*time.Minute)) || !c.NotAfter.Equal(tt.wantAfter) {
				t.Errorf("validity %v .. %v, want %v .. %v", c.NotBefore, c.NotAfter, t0.Add(-5*time.Minute), tt.wantAfter)
			}
			if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature ||
				!slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("IsCA %v KeyUsage %v ExtKeyUsage %v", c.IsCA, c.KeyUsage, c.ExtKeyUsage)
			}
			if !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
				t.Error("AuthorityKeyId is not the CA's SubjectKeyId")
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, DNSName: tt.req.Name}); err != nil {
				t.Errorf("does not verify against the CA: %v", err)
			}
			if name, ok := NodeName(c); !ok || name != tt.req.Name {
				t.Errorf("NodeName = %q, %v", name, ok)
			}
		})
	}
}

func TestSignNodeSerialsDiffer(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	a, _ := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	b, _ := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	ca1, _ := ParseCert(a)
	cb, _ := ParseCert(b)
	if ca1.SerialNumber.Cmp(cb.SerialNumber) == 0 {
		t.Error("two certificates share a serial")
	}
}

func TestSignNodeRejects(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	p256, _ := NewKey()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	noKey := &CA{Cert: ca.Cert, CertPEM: ca.CertPEM}
	tests := []struct {
		name string
		ca   *CA
		pub  any
		req  NodeRequest
		now  time.Time
		want string
	}{
		{"empty name", ca, &p256.PublicKey, NodeRequest{}, t0, "empty"},
		{"uppercase", ca, &p256.PublicKey, NodeRequest{Name: "Node"}, t0, "not lowercase"},
		{"leading dash", ca, &p256.PublicKey, NodeRequest{Name: "-n"}, t0, "not lowercase"},
		{"trailing dot", ca, &p256.PublicKey, NodeRequest{Name: "n."}, t0, "not lowercase"},
		{"too long", ca, &p256.PublicKey, NodeRequest{Name: strings.Repeat("a", 254)}, t0, "254 characters"},
		{"RSA", ca, &rsaKey.PublicKey, NodeRequest{Name: "n"}, t0, "only ECDSA P-256 and Ed25519"},
		{"P-384", ca, &p384.PublicKey, NodeRequest{Name: "n"}, t0, "only P-256"},
		{"short Ed25519", ca, ed25519.PublicKey{1, 2}, NodeRequest{Name: "n"}, t0, "Ed25519 key of 2 bytes"},
		{"negative TTL", ca, &p256.PublicKey, NodeRequest{Name: "n", TTL: -time.Second}, t0, "negative TTL"},
		{"bad IP", ca, &p256.PublicKey, NodeRequest{Name: "n", IPs: []net.IP{{1, 2}}}, t0, "IP address of 2 bytes"},
		{"empty DNS name", ca, &p256.PublicKey, NodeRequest{Name: "n", DNSNames: []string{""}}, t0, "empty or has spaces"},
		{"expired CA", ca, &p256.PublicKey, NodeRequest{Name: "n"}, ca.Cert.NotAfter, "expired"},
		{"no CA key", noKey, &p256.PublicKey, NodeRequest{Name: "n"}, t0, "no private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.ca.SignNode(tt.pub, tt.req, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SignNode: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A node certificate never outlives the CA: past it, it could not verify.
func TestSignNodeClampsToCA(t *testing.T) {
	ca := newCA(t, "cluster1", t0.AddDate(-10, 0, 30)) // ends in about 30 days
	for _, ttl := range []time.Duration{0, 365 * 24 * time.Hour, 31 * 24 * time.Hour} {
		certPEM, _ := newNode(t, ca, NodeRequest{Name: "n", TTL: ttl}, t0)
		c, _ := ParseCert(certPEM)
		if !c.NotAfter.Equal(ca.Cert.NotAfter) {
			t.Errorf("TTL %v: NotAfter %v, want the CA's %v", ttl, c.NotAfter, ca.Cert.NotAfter)
		}
	}
	certPEM, _ := newNode(t, ca, NodeRequest{Name: "n", TTL: 24 * time.Hour}, t0)
	if c, _ := ParseCert(certPEM); !c.NotAfter.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("a TTL within the CA's life was clamped: NotAfter %v", c.NotAfter)
	}
}

func TestSignNodeEd25519(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNode(pub, NodeRequest{Name: "n"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := ParseCert(certPEM); !pub.Equal(c.PublicKey) {
		t.Error("the certificate does not carry the Ed25519 key")
	}
}

func TestNodeName(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	key, _ := NewKey()
	node := func(cn string, org ...string) *x509.Certificate {
		return signOther(t, ca, pkix.Name{CommonName: cn, Organization: org}, &key.PublicKey)
	}
	tests := []struct {
		name string
		cert *x509.Certificate
		want string
		ok   bool
	}{
		{"node", node("node:n1", NodeOrg), "n1", true},
		{"node among orgs", node("node:n1", "x", NodeOrg), "n1", true},
		{"other org", node("node:n1", "shoal:clients"), "", false},
		{"no org", node("node:n1"), "", false},
		{"no prefix", node("n1", NodeOrg), "", false},
		{"empty name", node("node:", NodeOrg), "", false},
		{"invalid name", node("node:N 1", NodeOrg), "", false},
		{"the CA", ca.Cert, "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := NodeName(tt.cert); got != tt.want || ok != tt.ok {
				t.Errorf("NodeName = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNeedsRenewal(t *testing.T) {
	life := 300 * 24 * time.Hour
	// Issued at t0, backdated as SignNode does.
	cert := &x509.Certificate{NotBefore: t0.Add(-nodeBackdate), NotAfter: t0.Add(life)}
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before validity", t0.Add(-time.Hour), false},
		{"fresh", t0, false},
		{"half", t0.Add(life / 2), false},
		{"just before two thirds", t0.Add(life*2/3 - time.Second), false},
		{"two thirds", t0.Add(life * 2 / 3), true},
		{"three quarters", t0.Add(life * 3 / 4), true},
		{"expired", t0.Add(life + time.Hour), true},
	}
	// A certificate shorter-lived than the backdate is not due at once.
	short := &x509.Certificate{NotBefore: t0.Add(-nodeBackdate), NotAfter: t0.Add(45 * time.Second)}
	if NeedsRenewal(short, t0.Add(time.Second)) || !NeedsRenewal(short, t0.Add(31*time.Second)) {
		t.Error("a 45 s certificate: want renewal after 30 s, not before")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsRenewal(cert, tt.at); got != tt.want {
				t.Errorf("NeedsRenewal at %v = %v, want %v", tt.at.Sub(t0), got, tt.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if key.Curve != elliptic.P256() {
		t.Errorf("NewKey curve %s", key.Curve.Params().Name)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	for name, in := range map[string][]byte{"plain": keyPEM, "after EC PARAMETERS": append(params, keyPEM...)} {
		got, err := ParseKey(in)
		if err != nil || !got.Equal(key) {
			t.Errorf("ParseKey(%s) = %v, want the key back", name, err)
		}
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	if _, err := ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})); err == nil {
		t.Error("ParseKey accepted an Ed25519 key")
	}
	if _, err := EncodeKey(nil); err == nil {
		t.Error("EncodeKey(nil) succeeded")
	}
	for _, pub := range []any{&key.PublicKey, edPriv.Public()} {
		got, err := ParsePublicKey(mustPub(t, pub))
		if err != nil {
			t.Fatal(err)
		}
		if !got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Errorf("public key %T did not round trip", pub)
		}
	}
	if _, err := ParsePublicKey(keyPEM); err == nil {
		t.Error("ParsePublicKey read a private key")
	}
}

func TestParseCertTakesTheFirst(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	nodePEM, _ := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	chain := slices.Concat([]byte("junk\n"), nodePEM, ca.CertPEM)
	c, err := ParseCert(chain)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := NodeName(c); name != "n" {
		t.Errorf("ParseCert returned %q, want the leaf", c.Subject.CommonName)
	}
}
