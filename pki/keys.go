package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// NewKey makes a P-256 key: the curve every TLS stack accepts, and cheap to
// handshake with on small nodes.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a P-256 key: %w", err)
	}
	return k, nil
}

// EncodeKey writes a private key as an "EC PRIVATE KEY" (SEC 1) PEM block,
// the form openssl and most tooling read.
func EncodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	if k == nil {
		return nil, errors.New("encoding a private key: the key is nil")
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads the first private key block, "EC PRIVATE KEY" or PKCS #8
// "PRIVATE KEY", skipping others (openssl writes "EC PARAMETERS" first).
// Only ECDSA keys are accepted: that is what NewKey makes.
func ParseKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("reading a private key: no EC PRIVATE KEY or PRIVATE KEY PEM block")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("reading a private key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			return parsePKCS8(block.Bytes)
		}
	}
}

func parsePKCS8(der []byte) (*ecdsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("reading a private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("reading a private key: a %T, want an ECDSA key", k)
	}
	return ek, nil
}

// EncodePublicKey writes a public key as a PKIX "PUBLIC KEY" PEM block: the
// form in which a joiner sends its key to be signed.
func EncodePublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding a public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKey reads the first "PUBLIC KEY" block. Which key types may
// be signed is SignNode's decision, not this function's.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block := firstBlock(pemBytes, "PUBLIC KEY")
	if block == nil {
		return nil, errors.New("reading a public key: no PUBLIC KEY PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading a public key: %w", err)
	}
	return pub, nil
}

// ParseCert reads the first CERTIFICATE block; a chain's later certificates
// are ignored, so a leaf+CA file yields the leaf.
func ParseCert(pemBytes []byte) (*x509.Certificate, error) {
	block := firstBlock(pemBytes, "CERTIFICATE")
	if block == nil {
		return nil, errors.New("reading a certificate: no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reading a certificate: %w", err)
	}
	return cert, nil
}

func firstBlock(pemBytes []byte, typ string) *pem.Block {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == typ {
			return block
		}
	}
}

// randomSerial is 128 random bits: RFC 5280 wants serials unique per
// issuer, and randomness makes that hold without the CA keeping a counter
// in replicated state.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("drawing a certificate serial: %w", err)
		}
		if n.Sign() > 0 { // serials must be positive
			return n, nil
		}
	}
}
