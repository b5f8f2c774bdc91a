package apiclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"shoal/internal/atomicfile"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Credentials is what a client needs to reach a cluster: like a
// kubeconfig, one file with the agent to talk to, the CA that proves it is
// the cluster's, and the bearer token. Agents write one for their host's
// root (<data-dir>/admin.conf); `shoal token create -o config` prints one.
type Credentials struct {
	// Server is an agent's API, HOST:PORT (https is implied).
	Server string `yaml:"server"`
	// CA is the cluster CA certificate, PEM.
	CA    string `yaml:"ca"`
	Token string `yaml:"token"`
}

// LoadCredentials reads a credentials file.
func LoadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read credentials %s: %w", path, err)
	}
	c.Server = strings.TrimPrefix(c.Server, "https://")
	if c.Server == "" || c.CA == "" {
		return nil, fmt.Errorf("read credentials %s: server and ca are required", path)
	}
	return &c, nil
}

// Marshal encodes the credentials as the file's YAML.
func (c *Credentials) Marshal() ([]byte, error) {
	out := *c
	if !strings.HasPrefix(out.Server, "https://") {
		out.Server = "https://" + out.Server
	}
	return yaml.Marshal(&out)
}

// Write stores the credentials readable by the owner only, replacing the
// file in one step.
func (c *Credentials) Write(path string) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// TLS returns a client configuration that trusts only the cluster CA.
func (c *Credentials) TLS() (*tls.Config, error) {
	return CATLS([]byte(c.CA))
}

// CATLS returns a client configuration that trusts only caPEM.
func CATLS(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the credentials' ca holds no PEM certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
