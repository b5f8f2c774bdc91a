package pki

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// caValidity is long because rotating the cluster CA means re-issuing every
// node certificate and every join token; nodes renew long before it ends.
const caValidity = 10 // years

// caBackdate absorbs clock skew between the node that creates the CA and
// the nodes that first verify against it.
const caBackdate = time.Hour

// CA is the cluster's certificate authority: the one issuer every node
// trusts. Key is nil when only the certificate is known (a joiner's view).
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
}

// NewCA creates the cluster's self-signed CA. The cluster ID appears in the
// CN only so that an operator can tell clusters' CAs apart; trust rests on
// the key, never on the name.
func NewCA(clusterID string, now time.Time) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("creating the cluster CA: the cluster ID is empty")
	}
	key, err := NewKey()
	if err != nil {
		return nil, fmt.Errorf("creating the cluster CA: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("creating the cluster CA: %w", err)
	}
	skid, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("creating the cluster CA: %w", err)
	}
	name := pkix.Name{CommonName: "Shoal cluster CA " + prefixRunes(clusterID, 8), Organization: []string{"shoal"}}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		Issuer:                name,
		NotBefore:             now.Add(-caBackdate),
		NotAfter:              now.AddDate(caValidity, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true, // node certificates only: no intermediate CAs
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating the cluster CA: signing its certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("creating the cluster CA: reading back its certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: encodeCert(der), Key: key}, nil
}

// ParseCA reads a CA back from its PEM files, refusing a pair that could
// not sign node certificates: a key for another certificate, or a
// certificate that is not a CA.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	if err := checkIsCA(cert); err != nil {
		return nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster CA's key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("reading the cluster CA: the key does not belong to the certificate")
	}
	return &CA{Cert: cert, CertPEM: encodeCert(cert.Raw), Key: key}, nil
}

// KeyPEM encodes the CA's private key ("EC PRIVATE KEY"), for the one place
// that stores it.
func (c *CA) KeyPEM() ([]byte, error) {
	if c.Key == nil {
		return nil, errors.New("encoding the cluster CA's key: this CA has no private key")
	}
	return EncodeKey(c.Key)
}

// Digest is what join tokens pin: see Digest.
func (c *CA) Digest() string { return Digest(c.Cert.Raw) }

// Digest is the lowercase hex SHA-256 of a CA certificate's DER: 64
// characters that identify the CA exactly, short enough for a join token.
func Digest(caDER []byte) string {
	sum := sha256.Sum256(caDER)
	return hex.EncodeToString(sum[:])
}

// Pool is a pool holding only this CA, so that nothing else is trusted.
func (c *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	return pool
}

// PoolFromPEM reads the CA certificate (the first CERTIFICATE block) and
// returns a pool that trusts it alone, for nodes that hold no CA key.
func PoolFromPEM(caPEM []byte) (*x509.CertPool, *x509.Certificate, error) {
	cert, err := ParseCert(caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	if err := checkIsCA(cert); err != nil {
		return nil, nil, fmt.Errorf("reading the cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, cert, nil
}

// checkIsCA refuses a certificate that x509 verification would not accept
// as an issuer, so that the mistake shows when the file is read rather than
// as a handshake failure later.
func checkIsCA(cert *x509.Certificate) error {
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return fmt.Errorf("the certificate %q is not a CA", cert.Subject.CommonName)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("the CA certificate %q may not sign certificates (no certSign key usage)", cert.Subject.CommonName)
	}
	return nil
}

// subjectKeyID is the leftmost 160 bits of the SHA-256 of the key's
// SubjectPublicKeyInfo: node certificates name their issuer's key with it
// (AuthorityKeyId), which tells CAs apart across a rotation.
func subjectKeyID(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("computing the subject key ID: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// prefixRunes cuts s to n runes without splitting a character.
func prefixRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
