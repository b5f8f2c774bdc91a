package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"sync"
	"testing"
)

// raftServer is a listener configured as Raft's: node certificates only.
func raftServer(id *Identity) *tls.Config {
	cfg := id.ServerTLS(tls.RequireAndVerifyClientCert)
	cfg.VerifyConnection = RequireNodeCert
	return cfg
}

func TestHandshake(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	other := newCA(t, "cluster2", t0)
	a, b := newIdentity(t, ca, "node-a"), newIdentity(t, ca, "node-b")
	foreign := newIdentity(t, other, "node-b")
	key, _ := NewKey()
	client := signOther(t, ca, pkix.Name{CommonName: "node:admin", Organization: []string{"shoal:clients"}}, &key.PublicKey)

	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edCert, err := ca.SignNode(edPub, NodeRequest{Name: "node-ed"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	ed, err := NewIdentity(edCert, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER}), ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}

	// withCert is b's client configuration presenting another certificate.
	withCert := func(c *tls.Certificate) *tls.Config {
		cfg := b.ClientTLS("node-a")
		cfg.GetClientCertificate = nil
		if c != nil {
			cfg.Certificates = []tls.Certificate{*c}
		}
		return cfg
	}
	foreignCfg := foreign.ClientTLS("node-a")
	foreignCfg.RootCAs = ca.Pool() // trusts the server, but is not trusted by it

	tests := []struct {
		name            string
		server, client  *tls.Config
		srvErr, cliErr  bool
		srvErrSubstring string
	}{
		{"by name", raftServer(a), b.ClientTLS("node-a"), false, false, ""},
		{"by IP", raftServer(a), b.ClientTLS("127.0.0.1"), false, false, ""},
		{"Ed25519 node", raftServer(a), ed.ClientTLS("node-a"), false, false, ""},
		{"to an Ed25519 node", raftServer(ed), a.ClientTLS("node-ed"), false, false, ""},
		{"client from another CA", raftServer(a), foreignCfg, true, true, "unknown authority"},
		{"not a node certificate", raftServer(a), withCert(&tls.Certificate{
			Certificate: [][]byte{client.Raw}, PrivateKey: key, Leaf: client,
		}), true, true, "not a Shoal node certificate"},
		{"no client certificate", raftServer(a), withCert(nil), true, true, "certificate"},
		{"wrong server name", raftServer(a), b.ClientTLS("node-x"), true, true, ""},
		{"server from another CA", raftServer(foreign), b.ClientTLS("node-b"), true, true, ""},
		{"API without a client certificate", a.ServerTLS(tls.VerifyClientCertIfGiven), withCert(nil), false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srvErr, cliErr := handshake(t, tt.server, tt.client)
			if (srvErr != nil) != tt.srvErr || (cliErr != nil) != tt.cliErr {
				t.Fatalf("server error %v, client error %v; want errors: server %v, client %v", srvErr, cliErr, tt.srvErr, tt.cliErr)
			}
			if srvErr != nil && !strings.Contains(srvErr.Error(), tt.srvErrSubstring) {
				t.Errorf("server error %q does not contain %q", srvErr, tt.srvErrSubstring)
			}
		})
	}
}

func TestNewIdentityRejects(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	other := newCA(t, "cluster2", t0)
	certPEM, keyPEM := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	_, otherKey := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	foreignCert, foreignKey := newNode(t, other, NodeRequest{Name: "n"}, t0)
	key, _ := NewKey()
	keyPEM2, _ := EncodeKey(key)
	client := signOther(t, ca, pkix.Name{CommonName: "admin", Organization: []string{"shoal:clients"}}, &key.PublicKey)
	tests := []struct {
		name             string
		cert, key, caPEM []byte
		want             string
	}{
		{"another key", certPEM, otherKey, ca.CertPEM, "pairing"},
		{"another CA", foreignCert, foreignKey, ca.CertPEM, "does not chain to the cluster CA"},
		{"not a node certificate", encodeCert(client.Raw), keyPEM2, ca.CertPEM, "not a node certificate"},
		{"CA PEM is a leaf", certPEM, keyPEM, certPEM, "not a CA"},
		{"no CA", certPEM, keyPEM, nil, "no CERTIFICATE"},
		{"no key", certPEM, nil, ca.CertPEM, "pairing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIdentity(tt.cert, tt.key, tt.caPEM)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewIdentity: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestIdentityAccessors(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	certPEM, keyPEM := newNode(t, ca, NodeRequest{Name: "n1", IPs: []net.IP{net.IPv4(10, 0, 0, 1)}}, t0)
	// A file holding leaf+CA loads too; the CA is not served twice.
	id, err := NewIdentity(append(certPEM, ca.CertPEM...), keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := ParseCert(certPEM)
	if id.NodeName() != "n1" || !bytes.Equal(id.Leaf().Raw, leaf.Raw) || !bytes.Equal(id.CAPEM(), ca.CertPEM) || !id.Pool().Equal(ca.Pool()) {
		t.Error("accessors disagree with what was loaded")
	}
	served, err := id.ServerTLS(tls.NoClientCert).GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(served.Certificate) != 2 || !bytes.Equal(served.Certificate[0], leaf.Raw) || !bytes.Equal(served.Certificate[1], ca.Cert.Raw) {
		t.Errorf("served chain has %d certificates, want leaf then CA", len(served.Certificate))
	}
	if cfg := id.ClientTLS("n2"); cfg.InsecureSkipVerify || cfg.ServerName != "n2" || !cfg.RootCAs.Equal(ca.Pool()) {
		t.Error("ClientTLS does not verify n2 against the cluster CA")
	}
	id.CAPEM()[0] = 'x'
	if !bytes.Equal(id.CAPEM(), ca.CertPEM) {
		t.Error("CAPEM returns the identity's own buffer")
	}
}

// Update must reach a listener that is already running: renewal does not
// restart anything.
func TestIdentityUpdate(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	other := newCA(t, "cluster2", t0)
	a, b := newIdentity(t, ca, "node-a"), newIdentity(t, ca, "node-b")
	addr, _ := serve(t, raftServer(a))
	served := func() string {
		t.Helper()
		cs, err := dial(addr, b.ClientTLS("node-a"))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	if got, want := served(), a.Leaf().SerialNumber.String(); got != want {
		t.Fatalf("served serial %s, want %s", got, want)
	}

	var wg sync.WaitGroup // readers racing the swap, for -race
	for range 4 {
		wg.Go(func() {
			for range 100 {
				_ = a.Leaf().SerialNumber
			}
		})
	}
	certPEM, keyPEM := newNode(t, ca, NodeRequest{Name: "node-a", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, t0)
	if err := a.Update(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	renewed, _ := ParseCert(certPEM)
	if got := served(); got != renewed.SerialNumber.String() {
		t.Fatalf("after Update the server still serves %s, want %s", got, renewed.SerialNumber)
	}

	foreignCert, foreignKey := newNode(t, other, NodeRequest{Name: "node-a"}, t0)
	renamedCert, renamedKey := newNode(t, ca, NodeRequest{Name: "node-z"}, t0)
	tests := []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"another CA", foreignCert, foreignKey, "does not chain"},
		{"another node", renamedCert, renamedKey, `for node "node-z"`},
		{"mismatched key", certPEM, foreignKey, "pairing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Update(tt.cert, tt.key); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Update: %v, want an error containing %q", err, tt.want)
			}
			if got := served(); got != renewed.SerialNumber.String() {
				t.Errorf("a refused Update changed the served certificate to %s", got)
			}
		})
	}
}

func TestRequireNodeCert(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	certPEM, _ := newNode(t, ca, NodeRequest{Name: "n"}, t0)
	leaf, _ := ParseCert(certPEM)
	tests := []struct {
		name string
		cs   tls.ConnectionState
		ok   bool
	}{
		{"node", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}, true},
		{"CA as leaf", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{ca.Cert}}}, false},
		{"unverified", tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, false},
		{"nothing", tls.ConnectionState{}, false},
		{"empty chain", tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := RequireNodeCert(tt.cs); (err == nil) != tt.ok {
				t.Errorf("RequireNodeCert: %v, want ok %v", err, tt.ok)
			}
		})
	}
}
