package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// NodeOrg is the subject organization of every node certificate; with the
// CN prefix it is how a peer tells a node from any other holder of a
// certificate from the cluster CA.
const NodeOrg = "shoal:nodes"

// NodePrefix starts a node certificate's CN, followed by the node's name.
const NodePrefix = "node:"

// DefaultNodeTTL is a node certificate's lifetime when NodeRequest.TTL is 0.
// Nodes renew at two thirds of it (NeedsRenewal), so a year leaves months
// of margin for a node that was down.
const DefaultNodeTTL = 365 * 24 * time.Hour

// nodeBackdate absorbs clock skew: a certificate issued by a leader whose
// clock runs ahead must still be valid on the node that receives it.
const nodeBackdate = 5 * time.Minute

// maxNameLen is the DNS limit: the name is also a DNS SAN.
const maxNameLen = 253

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// NodeRequest is what a node asks to be certified as.
type NodeRequest struct {
	Name     string // node name; [a-z0-9]([-a-z0-9.]*[a-z0-9])?, at most 253 characters
	IPs      []net.IP
	DNSNames []string
	TTL      time.Duration // DefaultNodeTTL when 0
}

// SignNode issues a node certificate for pub and returns it as PEM. The
// name goes in the CN (which RequireNodeCert reads) and in the DNS SANs
// (which hostname verification reads), so a node can be dialled by name or
// by any of its addresses.
func (c *CA) SignNode(pub crypto.PublicKey, req NodeRequest, now time.Time) ([]byte, error) {
	if c.Key == nil {
		return nil, fmt.Errorf("signing node %q: this CA has no private key", req.Name)
	}
	tmpl, err := nodeTemplate(c.Cert, req, now)
	if err != nil {
		return nil, fmt.Errorf("signing node %q: %w", req.Name, err)
	}
	if err := checkNodeKey(pub); err != nil {
		return nil, fmt.Errorf("signing node %q: %w", req.Name, err)
	}
	der, err := x509.CreateCertificate(nil, tmpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, fmt.Errorf("signing node %q: %w", req.Name, err)
	}
	return encodeCert(der), nil
}

// nodeTemplate checks the request and builds the certificate to sign.
func nodeTemplate(ca *x509.Certificate, req NodeRequest, now time.Time) (*x509.Certificate, error) {
	if err := validName(req.Name); err != nil {
		return nil, err
	}
	ttl := req.TTL
	if ttl == 0 {
		ttl = DefaultNodeTTL
	}
	if ttl < 0 {
		return nil, fmt.Errorf("negative TTL %v", ttl)
	}
	if !now.Before(ca.NotAfter) {
		return nil, fmt.Errorf("the cluster CA expired at %s", ca.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(ttl)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter // a leaf outliving its issuer would fail to verify anyway
	}
	ips, err := uniqueIPs(req.IPs)
	if err != nil {
		return nil, err
	}
	dns, err := uniqueNames(append([]string{req.Name}, req.DNSNames...))
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: NodePrefix + req.Name, Organization: []string{NodeOrg}},
		NotBefore:             now.Add(-nodeBackdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		IPAddresses:           ips,
		DNSNames:              dns,
		AuthorityKeyId:        ca.SubjectKeyId,
	}, nil
}

// checkNodeKey admits the keys every node TLS stack handles: P-256 ECDSA
// (what NewKey makes) and Ed25519. RSA and other curves are refused so that
// the cluster's handshakes stay uniform.
func checkNodeKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("an ECDSA key on %s; only P-256 is accepted", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("an Ed25519 key of %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return nil
	default:
		return fmt.Errorf("a %T public key; only ECDSA P-256 and Ed25519 are accepted", pub)
	}
}

func validName(name string) error {
	switch {
	case name == "":
		return errors.New("the node name is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("the node name has %d characters; at most %d are allowed", len(name), maxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("the node name %q is not lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
	return nil
}

func uniqueIPs(in []net.IP) ([]net.IP, error) {
	var out []net.IP
	for _, ip := range in {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("an IP address of %d bytes", len(ip))
		}
		if !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out, nil
}

func uniqueNames(in []string) ([]string, error) {
	var out []string
	for _, n := range in {
		if n == "" || strings.ContainsAny(n, " \t\r\n") {
			return nil, fmt.Errorf("the DNS name %q is empty or has spaces", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// NodeName reports the node a certificate names, when it is a Shoal node
// certificate: O includes NodeOrg and the CN is NodePrefix plus a valid
// name. It does not verify the certificate: callers pass a verified leaf.
func NodeName(cert *x509.Certificate) (string, bool) {
	if cert == nil || cert.IsCA || !slices.Contains(cert.Subject.Organization, NodeOrg) {
		return "", false
	}
	name, ok := strings.CutPrefix(cert.Subject.CommonName, NodePrefix)
	if !ok || validName(name) != nil {
		return "", false
	}
	return name, true
}

// NeedsRenewal reports whether a certificate is two thirds through its
// validity, or past it: renewing then leaves a third of the lifetime to
// retry through an unreachable leader.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	// Life counts from when the certificate was issued: NotBefore is set
	// nodeBackdate earlier for clock skew, which would otherwise make a
	// short-lived certificate due for renewal the moment it is issued.
	issued := cert.NotBefore.Add(nodeBackdate)
	if issued.After(cert.NotAfter) {
		issued = cert.NotBefore
	}
	life := cert.NotAfter.Sub(issued)
	return !now.Before(issued.Add(life/3*2)) || now.After(cert.NotAfter)
}
