// Package pullauth holds the registry credentials of image pulls: Docker
// config files (the data of the kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg Secrets that a pod's imagePullSecrets name),
// parsed and matched to an image the way kubelet does it
// (pkg/credentialprovider). It is pure: no I/O, no containerd.
package pullauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"

	"shoal/cluster"
)

// Credential is one registry login. Its secrets never reach a log or an
// error message: String and LogValue name only where it came from, and it
// does not marshal to JSON.
type Credential struct {
	Username string `json:"-"`
	Password string `json:"-"`
	// IdentityToken is an OAuth2 refresh token (what `docker login` keeps
	// for registries that issue one); it is sent to the registry's token
	// server in place of a password.
	IdentityToken string `json:"-"`
	// Source names where it came from (the Secret), for messages.
	Source string `json:"source,omitempty"`
}

// String names the credential without its secrets.
func (c Credential) String() string {
	return fmt.Sprintf("credential from %s", orUnknown(c.Source))
}

// GoString keeps %#v from printing the secrets.
func (c Credential) GoString() string { return c.String() }

// LogValue keeps slog from printing the secrets.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Empty reports whether c carries nothing to log in with.
func (c Credential) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed source"
	}
	return s
}

// Entry is one registry of a Docker config and its credential.
type Entry struct {
	// Registry is the key as written: "registry:5000",
	// "https://index.docker.io/v1/", "*.example.com/team".
	Registry string
	// key is Registry as kubelet matches it: scheme gone, host[:port]
	// followed by the path, if any, without /v1/ or /v2/.
	key string
	Credential
}

// Config is a Docker config's registries, sorted by Registry.
type Config []Entry

// configJSON is a config.json (kubernetes.io/dockerconfigjson). Other
// fields (credsStore, credHelpers, HttpHeaders) mean nothing to a node and
// are ignored, as kubelet ignores them.
type configJSON struct {
	Auths map[string]json.RawMessage `json:"auths"`
}

// entryJSON is one registry's entry. auth (base64 of "user:password") wins
// over username and password, as in kubelet; email is ignored.
type entryJSON struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// ParseConfigJSON parses a config.json: {"auths": {"registry": {...}}},
// the .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret.
// source names the Secret in the credentials.
func ParseConfigJSON(data []byte, source string) (Config, error) {
	if err := wantObject(data); err != nil {
		return nil, err
	}
	var cfg configJSON
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("not a Docker config.json: %w", err)
	}
	return parseAuths(cfg.Auths, source, "auths")
}

// ParseDockercfg parses the legacy ~/.dockercfg form: {"registry": {...}},
// the .dockercfg of a kubernetes.io/dockercfg Secret.
func ParseDockercfg(data []byte, source string) (Config, error) {
	if err := wantObject(data); err != nil {
		return nil, err
	}
	var auths map[string]json.RawMessage
	if err := json.Unmarshal(data, &auths); err != nil {
		return nil, fmt.Errorf("not a .dockercfg: %w", err)
	}
	return parseAuths(auths, source, "")
}

// wantObject refuses JSON that is not an object (null, a list, a string),
// which encoding/json would decode into a map without complaint.
func wantObject(data []byte) error {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("expected a JSON object")
	}
	return nil
}

func parseAuths(auths map[string]json.RawMessage, source, prefix string) (Config, error) {
	var cfg Config
	for _, registry := range slices.Sorted(maps.Keys(auths)) {
		where := registry
		if prefix != "" {
			where = prefix + "." + registry
		}
		if err := wantObject(auths[registry]); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		var e entryJSON
		if err := json.Unmarshal(auths[registry], &e); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		key, err := matchKey(registry)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		cred := Credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, Source: source}
		if e.Auth != "" {
			if cred.Username, cred.Password, err = decodeAuth(e.Auth); err != nil {
				return nil, fmt.Errorf("%s.auth: %w", where, err)
			}
		}
		// An entry with nothing to log in with would only make the
		// pull anonymous, which it is anyway when nothing else matches.
		if cred.Empty() {
			continue
		}
		cfg = append(cfg, Entry{Registry: registry, key: key, Credential: cred})
	}
	return cfg, nil
}

// decodeAuth decodes base64("user:password"), padded or not (kubelet
// accepts both).
func decodeAuth(field string) (user, password string, err error) {
	var b []byte
	if strings.HasSuffix(strings.TrimSpace(field), "=") {
		b, err = base64.StdEncoding.DecodeString(field)
	} else {
		b, err = base64.RawStdEncoding.DecodeString(field)
	}
	if err != nil {
		return "", "", errors.New("not base64 (expected base64 of user:password)")
	}
	user, password, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", errors.New("expected base64 of user:password (no ':' in the decoded value)")
	}
	return user, password, nil
}

// matchKey turns a config's registry key into the form kubelet matches:
// the scheme dropped, host[:port] and the path, where /v1/ and /v2/
// (Docker's API prefixes) mean the host itself.
func matchKey(registry string) (string, error) {
	if registry == "" {
		return "", errors.New("empty registry name")
	}
	v := registry
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", fmt.Errorf("not a registry host[:port][/path]: %v", err)
	}
	if u.Host == "" {
		return "", errors.New("not a registry host[:port][/path]: no host")
	}
	p := u.Path
	if strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/v1/") {
		p = p[3:]
	}
	if p == "" || p == "/" {
		return u.Host, nil
	}
	return u.Host + p, nil
}

// The keys that hold a registry-credentials Secret's Docker config, by
// Secret type (Kubernetes' names).
const (
	KeyDockerConfigJSON = ".dockerconfigjson" // kubernetes.io/dockerconfigjson
	KeyDockercfg        = ".dockercfg"        // kubernetes.io/dockercfg
)

// FromSecret parses a Secret's registry credentials. ok is false for a
// Secret that holds none: another type, or its key absent or empty, which
// kubelet skips without a word. source names the Secret in the
// credentials.
func FromSecret(secretType string, data map[string][]byte, source string) (cfg Config, ok bool, err error) {
	switch secretType {
	case cluster.SecretDockerConfigJSON:
		if b := data[KeyDockerConfigJSON]; len(b) > 0 {
			cfg, err = ParseConfigJSON(b, source)
			return cfg, true, err
		}
	case cluster.SecretDockerConfig:
		if b := data[KeyDockercfg]; len(b) > 0 {
			cfg, err = ParseDockercfg(b, source)
			return cfg, true, err
		}
	}
	return nil, false, nil
}
