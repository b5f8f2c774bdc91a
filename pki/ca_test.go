package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

func TestNewCA(t *testing.T) {
	tests := []struct {
		clusterID string
		wantCN    string
	}{
		{"0123456789abcdef", "Shoal cluster CA 01234567"},
		{"abc", "Shoal cluster CA abc"},
		{"ééééééééé", "Shoal cluster CA éééééééé"},
	}
	for _, tt := range tests {
		t.Run(tt.clusterID, func(t *testing.T) {
			ca := newCA(t, tt.clusterID, t0)
			c := ca.Cert
			if c.Subject.CommonName != tt.wantCN || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "shoal" {
				t.Errorf("subject = %v, want CN %q O shoal", c.Subject, tt.wantCN)
			}
			if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("IsCA %v, BasicConstraintsValid %v, MaxPathLen %d, MaxPathLenZero %v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
			}
			if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; c.KeyUsage != want {
				t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
			}
			if !c.NotBefore.Equal(t0.Add(-caBackdate)) || !c.NotAfter.Equal(t0.AddDate(10, 0, 0)) {
				t.Errorf("validity %v .. %v, want now-1h .. now+10y", c.NotBefore, c.NotAfter)
			}
			if len(c.SubjectKeyId) == 0 {
				t.Error("no SubjectKeyId")
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if ca.Digest() != Digest(c.Raw) {
				t.Error("Digest() differs from Digest(Cert.Raw)")
			}
		})
	}
	if _, err := NewCA("", t0); err == nil {
		t.Error("NewCA with an empty cluster ID succeeded")
	}
}

func TestCARoundTrip(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	for name, kp := range map[string][]byte{"EC PRIVATE KEY": keyPEM, "PKCS8": pkcs8PEM} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCA(ca.CertPEM, kp)
			if err != nil {
				t.Fatalf("ParseCA: %v", err)
			}
			if !bytes.Equal(got.Cert.Raw, ca.Cert.Raw) || !got.Key.Equal(ca.Key) || !bytes.Equal(got.CertPEM, ca.CertPEM) {
				t.Error("the CA did not survive the round trip")
			}
			if got.Digest() != ca.Digest() {
				t.Errorf("digest %s, want %s", got.Digest(), ca.Digest())
			}
		})
	}
}

func TestParseCARejects(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	other := newCA(t, "cluster2", t0)
	otherKey, _ := other.KeyPEM()
	nodeCert, nodeKey := newNode(t, ca, NodeRequest{Name: "n1"}, t0)
	tests := []struct {
		name            string
		certPEM, keyPEM []byte
		want            string
	}{
		{"another CA's key", ca.CertPEM, otherKey, "does not belong"},
		{"a node certificate", nodeCert, nodeKey, "not a CA"},
		{"no certificate", []byte("garbage"), otherKey, "no CERTIFICATE"},
		{"no key", ca.CertPEM, nil, "no EC PRIVATE KEY"},
		{"a public key for a key", ca.CertPEM, mustPub(t, ca.Key.Public()), "no EC PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCA(tt.certPEM, tt.keyPEM)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCA: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestKeyPEMWithoutKey(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	if _, err := (&CA{Cert: ca.Cert, CertPEM: ca.CertPEM}).KeyPEM(); err == nil {
		t.Error("KeyPEM of a CA without a key succeeded")
	}
}

func TestDigest(t *testing.T) {
	for _, der := range [][]byte{nil, []byte("x"), newCA(t, "c", t0).Cert.Raw} {
		sum := sha256.Sum256(der)
		if got, want := Digest(der), hex.EncodeToString(sum[:]); got != want || len(got) != 64 || strings.ToLower(got) != got {
			t.Errorf("Digest = %q, want %q (64 lowercase hex)", got, want)
		}
	}
}

func TestPoolFromPEM(t *testing.T) {
	ca := newCA(t, "cluster1", t0)
	nodeCert, _ := newNode(t, ca, NodeRequest{Name: "n1"}, t0)
	pool, cert, err := PoolFromPEM(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cert.Raw, ca.Cert.Raw) || !pool.Equal(ca.Pool()) {
		t.Error("PoolFromPEM does not hold exactly the CA")
	}
	leaf, _ := ParseCert(nodeCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("a node certificate does not verify against the pool: %v", err)
	}
	for name, in := range map[string][]byte{"node certificate": nodeCert, "garbage": []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "empty": nil} {
		if _, _, err := PoolFromPEM(in); err == nil {
			t.Errorf("PoolFromPEM(%s) succeeded", name)
		}
	}
}
