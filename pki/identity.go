package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
)

// Identity is a node's live credential. Its listeners and dialers read the
// certificate through callbacks, so Update (on renewal) takes effect at the
// next handshake without restarting anything; connections already open
// keep the certificate they were made with.
type Identity struct {
	cert  atomic.Pointer[tls.Certificate] // Certificate is [leaf, CA]; Leaf set
	name  string
	ca    *x509.Certificate
	caPEM []byte
	pool  *x509.CertPool
}

// NewIdentity loads a node's certificate and key, checking that the
// certificate is a node certificate of the CA in caPEM and that the key is
// its own, so that a mismatched file fails here rather than at a peer.
func NewIdentity(certPEM, keyPEM, caPEM []byte) (*Identity, error) {
	pool, ca, err := PoolFromPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the node identity: %w", err)
	}
	id := &Identity{ca: ca, caPEM: encodeCert(ca.Raw), pool: pool}
	cert, err := id.load(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading the node identity: %w", err)
	}
	id.name, _ = NodeName(cert.Leaf)
	id.cert.Store(cert)
	return id, nil
}

// Update replaces the certificate and key after the same checks as
// NewIdentity, and refuses a certificate for another node name: renewal
// keeps a node's identity, it does not change it. On error the current
// certificate stays in use.
func (id *Identity) Update(certPEM, keyPEM []byte) error {
	cert, err := id.load(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("renewing the identity of node %q: %w", id.name, err)
	}
	if name, _ := NodeName(cert.Leaf); name != id.name {
		return fmt.Errorf("renewing the identity of node %q: the new certificate is for node %q", id.name, name)
	}
	id.cert.Store(cert)
	return nil
}

// load builds the served certificate: the leaf followed by the CA, so that
// a joiner that pins the CA's digest (Pinned) finds the CA in the chain.
func (id *Identity) load(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pairing the certificate with its key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("reading the certificate: %w", err)
	}
	if _, ok := NodeName(leaf); !ok {
		return nil, fmt.Errorf("the certificate %q is not a node certificate (CN %s<name>, O %s)", leaf.Subject.CommonName, NodePrefix, NodeOrg)
	}
	if err := id.verify(leaf); err != nil {
		return nil, err
	}
	return &tls.Certificate{
		Certificate: [][]byte{leaf.Raw, id.ca.Raw},
		PrivateKey:  pair.PrivateKey,
		Leaf:        leaf,
	}, nil
}

// verify checks that leaf chains to the CA. It verifies at the time the
// leaf was issued, not the wall clock, because this package reads no
// clock: an expired certificate is NeedsRenewal's business, and peers
// refuse it at the handshake.
func (id *Identity) verify(leaf *x509.Certificate) error {
	at := leaf.NotBefore
	if at.Before(id.ca.NotBefore) {
		at = id.ca.NotBefore
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:       id.pool,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("the certificate does not chain to the cluster CA (digest %s): %w", Digest(id.ca.Raw), err)
	}
	return nil
}

// Leaf is the node certificate in use now.
func (id *Identity) Leaf() *x509.Certificate { return id.cert.Load().Leaf }

// NodeName is the node's name, from its certificate's CN.
func (id *Identity) NodeName() string { return id.name }

// CAPEM is the cluster CA's certificate, PEM-encoded (a copy).
func (id *Identity) CAPEM() []byte { return bytes.Clone(id.caPEM) }

// Pool trusts the cluster CA alone.
func (id *Identity) Pool() *x509.CertPool { return id.pool }

// ServerTLS is the configuration for the node's listeners. clientAuth is
// tls.RequireAndVerifyClientCert for Raft (add VerifyConnection =
// RequireNodeCert so only nodes speak it) and tls.VerifyClientCertIfGiven
// for the HTTPS API, whose clients may present a token instead.
func (id *Identity) ServerTLS(clientAuth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return id.cert.Load(), nil
		},
		ClientAuth: clientAuth,
		ClientCAs:  id.pool,
	}
}

// ClientTLS is the configuration for dialing another node. serverName is
// the node name or IP dialled; node certificates carry both as SANs, so
// ordinary hostname verification against the cluster CA applies.
func (id *Identity) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    id.pool,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return id.cert.Load(), nil
		},
	}
}

// RequireNodeCert is a tls.Config.VerifyConnection that refuses a peer
// whose verified certificate is not a node certificate. Any certificate
// the cluster CA signed passes chain verification; this is what keeps, say,
// a client certificate for the API off Raft.
func RequireNodeCert(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return errors.New("the peer presented no verified certificate; a Shoal node certificate is required")
	}
	leaf := cs.VerifiedChains[0][0]
	if _, ok := NodeName(leaf); !ok {
		return fmt.Errorf("the peer's certificate %q (O %q) is not a Shoal node certificate", leaf.Subject.CommonName, leaf.Subject.Organization)
	}
	return nil
}
