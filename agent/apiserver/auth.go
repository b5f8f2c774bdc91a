package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"shoal/cluster"
	"shoal/pki"
)

// Caller is who sent a request: a user token (Role set) or a node
// certificate (Node set).
type Caller struct {
	// Name is the token's name or "node:<name>", for the audit log.
	Name string
	Role cluster.Role
	Node string
}

func (c Caller) String() string { return c.Name }

// perm is what a route needs.
type perm int

const (
	// permPublic: anyone (health; join, which checks its own secret).
	permPublic perm = iota
	// permRead: every role and every node.
	permRead
	// permWrite: apply, delete, scale, cordon, images (admin, edit).
	permWrite
	// permExec: running commands in pods (admin, edit).
	permExec
	// permAdmin: tokens, keys, the join secret (admin).
	permAdmin
	// permNode: a node's own record, its pods' status, its lease, claim
	// volumes; the handler checks that the node acts for itself.
	permNode
	// permSecrets: reading Secrets' data (admin, edit), which view may
	// not, as in Kubernetes. Nodes open the Secrets their pods use from
	// their own copy of the state, never through the API.
	permSecrets
)

// allows reports whether c may use a route that needs p.
func (c Caller) allows(p perm) bool {
	switch {
	case p == permPublic:
		return true
	case c.Node != "":
		return p == permRead || p == permNode
	case c.Role == cluster.RoleAdmin:
		return p != permNode
	case c.Role == cluster.RoleEdit:
		return p == permRead || p == permWrite || p == permExec || p == permSecrets
	case c.Role == cluster.RoleView:
		return p == permRead
	}
	return false
}

type callerKey struct{}

// CallerOf returns the authenticated caller of a request.
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// errUnauthenticated is the answer to a request without a valid
// credential; it never says which part was wrong.
var errUnauthenticated = errors.New("this agent needs a credential: a token (shoal token create, or the root-only /var/lib/shoal/admin.conf via --config) or a node certificate")

// authenticate finds the caller of r. A bearer token wins over a client
// certificate: an agent forwarding a user's request presents its own
// certificate and the user's token, and acts with the user's rights only.
// Coming from loopback earns nothing.
func (s *Server) authenticate(r *http.Request) (Caller, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return Caller{}, false
		}
		return s.tokenCaller(tok)
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if name, ok := pki.NodeName(r.TLS.VerifiedChains[0][0]); ok {
			return Caller{Name: "node:" + name, Node: name}, true
		}
	}
	return Caller{}, false
}

// tokenCaller checks a user token against the hashes in the replicated
// state, so a token created or revoked on any agent is known on every
// agent as soon as the change is applied there.
func (s *Server) tokenCaller(tok string) (Caller, bool) {
	id, secret, ok := ParseUserToken(tok)
	if !ok {
		return Caller{}, false
	}
	t, ok := s.cfg.Store.State().Token(id)
	if !ok || t.Expired(s.cfg.Now()) {
		return Caller{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	want, err := hex.DecodeString(t.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return Caller{}, false
	}
	return Caller{Name: t.Name, Role: t.Role}, true
}

// guard wraps a route: the caller must be allowed p.
func (s *Server) guard(p perm, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p == permPublic {
			h(w, r)
			return
		}
		c, ok := CallerOf(r.Context())
		if !ok {
			writeError(w, http.StatusUnauthorized, errUnauthenticated)
			return
		}
		if !c.allows(p) {
			writeError(w, http.StatusForbidden, fmt.Errorf("%s may not %s %s", c.Name, r.Method, r.URL.Path))
			return
		}
		h(w, r)
	}
}

// actsForSelf checks that a node caller names itself; users with the admin
// role may act for any node (repairs by hand).
func actsForSelf(r *http.Request, node string) error {
	c, _ := CallerOf(r.Context())
	if c.Node == "" || c.Node == node {
		return nil
	}
	return forbidden{fmt.Errorf("node %s may not act for node %s", c.Node, node)}
}

// forbidden marks errors that are a caller's lack of rights.
type forbidden struct{ error }

func (f forbidden) Unwrap() error { return f.error }

// User tokens look like "shoal-<16 hex ID>.<32 hex secret>": the ID finds
// the record, the secret (128 bits) proves possession and is stored only
// as its hash.
const userTokenPrefix = "shoal-"

// NewUserToken makes a token: the string to hand to its holder and the
// ID and hash to store.
func NewUserToken() (token, id, hash string, err error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", fmt.Errorf("make a token: %w", err)
	}
	id, secret := hex.EncodeToString(b[:8]), hex.EncodeToString(b[8:])
	sum := sha256.Sum256([]byte(secret))
	return userTokenPrefix + id + "." + secret, id, hex.EncodeToString(sum[:]), nil
}

// ParseUserToken splits a user token into its ID and secret.
func ParseUserToken(tok string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), userTokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, ".")
	if !ok || len(id) != 16 || len(secret) != 32 || !isHex(id) || !isHex(secret) {
		return "", "", false
	}
	return id, secret, true
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// tokenRecord builds the stored record of a new token.
func tokenRecord(id, hash, name string, role cluster.Role, ttl time.Duration, by string, now time.Time) *cluster.Token {
	t := &cluster.Token{ID: id, Name: name, Role: role, Hash: hash, CreatedAt: now.UTC(), CreatedBy: by}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl).UTC()
	}
	return t
}
