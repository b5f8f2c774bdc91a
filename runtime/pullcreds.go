package runtime

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/auth"
	"github.com/containerd/errdefs"

	"shoal/pullauth"
)

// labelPulledWithCredentials marks an image this runtime pulled with
// registry credentials ("true") or without ("false"); an image without it
// was imported or pulled by something else (kubelet's "preloaded").
const labelPulledWithCredentials = "io.shoal.image.pulled-with-credentials"

// resolver talks plain HTTP to loopback and localhost registries (as
// Docker does) and to the configured insecure ones. It answers the
// registry's challenges: token (Bearer) challenges always, as registries
// hand out anonymous pull tokens (Docker Hub); with cred, with that
// credential, but only challenges from registry, the image's own host
// (containerd reaches docker.io at registry-1.docker.io). So the
// credential goes to that registry or to the token server it names, as
// with Docker, and never to a host a download is redirected to.
func (r *Runtime) resolver(registry string, cred *pullauth.Credential) remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(func(host string) (bool, error) { return r.plainHTTP(host), nil }),
			docker.WithAuthorizer(challengeAuthorizer{
				Authorizer: docker.NewDockerAuthorizer(docker.WithAuthCreds(credentialsFor(registry, cred))),
				basic:      cred != nil,
			}),
		),
	})
}

// credentialsFor answers containerd's "credentials for host?" with cred
// when host is the image's registry, and with nothing otherwise.
func credentialsFor(registry string, cred *pullauth.Credential) func(host string) (string, string, error) {
	return func(host string) (string, string, error) {
		same := host == registry || registry == "docker.io" && host == "registry-1.docker.io"
		if cred == nil || !same {
			return "", "", nil
		}
		if cred.IdentityToken != "" {
			// An OAuth2 refresh token: containerd sends it to the token
			// server as one when the user name is empty.
			return "", cred.IdentityToken, nil
		}
		return cred.Username, cred.Password, nil
	}
}

// challengeAuthorizer leaves a Basic challenge unanswered when there is no
// credential to answer it with: the pull then fails with the registry's
// own "401 Unauthorized" rather than containerd's "no basic auth
// credentials", and the user sees what the registry said.
type challengeAuthorizer struct {
	docker.Authorizer
	basic bool
}

func (a challengeAuthorizer) AddResponses(ctx context.Context, responses []*http.Response) error {
	if !a.basic && len(responses) > 0 {
		bearer := false
		for _, c := range auth.ParseAuthHeader(responses[len(responses)-1].Header) {
			bearer = bearer || c.Scheme == auth.BearerAuth
		}
		if !bearer {
			return errdefs.ErrNotImplemented
		}
	}
	return a.Authorizer.AddResponses(ctx, responses)
}

// credentialRecords remembers, per image, which credentials pulled it or
// were checked against the registry for it. Only digests are kept, in
// memory: after a restart a private image is checked again at its next
// pull, which costs one manifest request.
type credentialRecords struct {
	mu    sync.Mutex
	byRef map[string]map[[sha256.Size]byte]bool
}

func fingerprint(ref string, c pullauth.Credential) [sha256.Size]byte {
	h := sha256.New()
	for _, s := range []string{ref, c.Username, c.Password, c.IdentityToken} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (c *credentialRecords) add(ref string, cred pullauth.Credential) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byRef == nil {
		c.byRef = map[string]map[[sha256.Size]byte]bool{}
	}
	if c.byRef[ref] == nil {
		c.byRef[ref] = map[[sha256.Size]byte]bool{}
	}
	c.byRef[ref][fingerprint(ref, cred)] = true
}

// has reports whether any of creds pulled ref or was checked for it.
func (c *credentialRecords) has(ref string, creds []pullauth.Credential) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cred := range creds {
		if c.byRef[ref][fingerprint(ref, cred)] {
			return true
		}
	}
	return false
}

// forget drops ref's records: it pulled without credentials, so it is
// everyone's.
func (c *credentialRecords) forget(ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byRef, ref)
}
