package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Pinned is the joiner's side of the CA-pinned join (Docker Swarm's SWMTKN
// and k3s's K10 tokens work the same way). A joiner has no CA yet, only the
// CA's digest from the join token; it trusts the seed exactly when the seed
// proves a certificate from the CA with that digest, and only then sends
// the token's secret. After the handshake CA returns the CA, which the
// joiner then keeps as its trust root.
type Pinned struct {
	digest string
	ca     atomic.Pointer[x509.Certificate]
}

// NewPinned pins the CA whose DER has this SHA-256 (Digest).
func NewPinned(digest string) *Pinned {
	return &Pinned{digest: strings.ToLower(strings.TrimSpace(digest))}
}

// CA is the pinned CA's certificate, nil until a handshake verified it.
func (p *Pinned) CA() *x509.Certificate { return p.ca.Load() }

// TLS is a client configuration that trusts the pinned CA and nothing
// else. InsecureSkipVerify is set only to replace the standard
// verification, which needs a root pool the joiner does not have yet, with
// p's own in VerifyConnection (which, unlike VerifyPeerCertificate, also
// runs on resumed sessions). The hostname is not checked: the seed is
// dialled by whatever address the operator typed, and the pin is what
// identifies the cluster.
func (p *Pinned) TLS() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection:   p.verify,
	}
}

func (p *Pinned) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("the seed presented no certificate")
	}
	ca := p.find(certs)
	if ca == nil {
		return p.mismatch(certs)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:     pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return &MismatchError{fmt.Sprintf("the seed's certificate %q does not verify against the pinned CA (digest %s): %v", certs[0].Subject.CommonName, p.digest, err)}
	}
	p.ca.Store(ca)
	return nil
}

// find returns the presented CA certificate whose digest is the pin.
func (p *Pinned) find(certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		if Digest(c.Raw) == p.digest && checkIsCA(c) == nil {
			return c
		}
	}
	return nil
}

// mismatch names the digest the seed did offer, so that an operator can
// tell a wrong token from a wrong seed.
func (p *Pinned) mismatch(certs []*x509.Certificate) error {
	for i := len(certs) - 1; i >= 0; i-- {
		if c := certs[i]; checkIsCA(c) == nil {
			return &MismatchError{fmt.Sprintf("the seed's CA has digest %s but the join token pins %s: wrong token, or not the cluster you meant", Digest(c.Raw), p.digest)}
		}
	}
	last := certs[len(certs)-1]
	return &MismatchError{fmt.Sprintf("the seed's CA has digest %s but the join token pins %s: wrong token, or not the cluster you meant (the seed sent no CA certificate in its chain; that digest is of %q)",
		Digest(last.Raw), p.digest, last.Subject.CommonName)}
}

// MismatchError is a seed that is not of the pinned cluster: retrying the
// same seed with the same token cannot succeed.
type MismatchError struct{ msg string }

func (e *MismatchError) Error() string { return e.msg }
