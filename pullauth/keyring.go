package pullauth

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// Docker Hub's names: the key `docker login` writes
// (https://index.docker.io/v1/, matched as index.docker.io) and the domain
// of normalized image names.
const (
	dockerHubKey    = "index.docker.io"
	dockerHubDomain = "docker.io"
)

// Keyring holds the credentials of a pod's pull secrets, as kubelet's
// BasicDockerKeyring does: every Secret's registries in one set, the
// credentials of one registry key in the order of the Secrets.
type Keyring struct {
	creds map[string][]Credential
	// index is the keys in reverse order, so that "reg/team/app" comes
	// before "reg/team" and "reg": the most specific match is tried first.
	index []string
}

// Add adds a Secret's registries after those already held.
func (k *Keyring) Add(cfg Config) {
	if k.creds == nil {
		k.creds = map[string][]Credential{}
	}
	for _, e := range cfg {
		if _, seen := k.creds[e.key]; !seen {
			k.index = append(k.index, e.key)
		}
		k.creds[e.key] = append(k.creds[e.key], e.Credential)
	}
	slices.Sort(k.index)
	slices.Reverse(k.index)
}

// Lookup returns the credentials to try, in order, for pulling image (a
// reference as a pod spec writes it: "busybox", "registry:5000/app:1").
// No credentials means an anonymous pull. Like kubelet, it matches each
// key against the image's repository:
//
//   - host[:port] exactly (the port too: "reg" does not match "reg:5000"),
//     with "*" globs per host label ("*.example.com");
//   - a key's path is a prefix of the repository's path;
//   - with no match, an image on Docker Hub (docker.io, index.docker.io,
//     or a name with no registry) takes the credentials of index.docker.io
//     (docker login's https://index.docker.io/v1/).
func (k *Keyring) Lookup(image string) ([]Credential, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", image, err)
	}
	repo := named.Name() // "docker.io/library/busybox", "reg:5000/app"
	target, err := parseSchemeless(repo)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", image, err)
	}
	var out []Credential
	for _, key := range k.index {
		glob, err := parseSchemeless(key)
		if err != nil {
			continue // Parse checked every key; nothing to match
		}
		if urlsMatch(glob, target) {
			out = append(out, k.creds[key]...)
		}
	}
	if len(out) == 0 && dockerHub(repo) {
		out = append(out, k.creds[dockerHubKey]...)
	}
	return out, nil
}

// dockerHub reports whether a repository is Docker Hub's, by kubelet's
// rule (isDefaultRegistryMatch), which Docker's own normalization follows.
func dockerHub(repo string) bool {
	first, _, found := strings.Cut(repo, "/")
	if first == "" {
		return false
	}
	if !found || first == dockerHubDomain || first == dockerHubKey {
		return true
	}
	return !strings.ContainsAny(first, ".:") && first != "localhost"
}

// parseSchemeless parses "host[:port][/path]".
func parseSchemeless(s string) (*url.URL, error) {
	u, err := url.Parse("https://" + s)
	if err != nil {
		return nil, err
	}
	u.Scheme = ""
	return u, nil
}

// urlsMatch is kubelet's URLsMatch: same port, same number of host
// labels, each matching the key's label as a glob, and the key's path a
// prefix of the target's.
func urlsMatch(glob, target *url.URL) bool {
	globParts, globPort := splitHost(glob)
	targetParts, targetPort := splitHost(target)
	if globPort != targetPort || len(globParts) != len(targetParts) {
		return false
	}
	if !strings.HasPrefix(target.Path, glob.Path) {
		return false
	}
	for i, g := range globParts {
		if ok, err := filepath.Match(g, targetParts[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

func splitHost(u *url.URL) (labels []string, port string) {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, ""
	}
	return strings.Split(host, "."), port
}
