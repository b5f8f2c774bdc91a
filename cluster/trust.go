package cluster

import (
	"fmt"
	"slices"
	"time"
)

// Trust is the cluster's credentials. It is replicated like the rest of
// the state, so every Raft member holds the CA key: whichever agent leads
// must be able to sign a joining node's certificate and renew the others'
// after the first agent is gone (Swarm's managers and k3s's servers hold
// theirs the same way). It is never served by the API, and the state
// stream leaves the key out for the agents outside Raft
// (consensus/cakey.go).
type Trust struct {
	// CACert and CAKey are the cluster CA, PEM.
	CACert string `json:"caCert,omitempty"`
	CAKey  string `json:"caKey,omitempty"`
	// JoinSecretHash is the SHA-256 (hex) of the join token's secret; the
	// secret itself is never stored, so rotating it needs no old value.
	JoinSecretHash string `json:"joinSecretHash,omitempty"`
	// GossipKeys is the memberlist keyring, base64, the primary first.
	GossipKeys []string `json:"gossipKeys,omitempty"`
	// SecretKeyID names the key new Secrets are sealed with. Only its ID
	// is replicated: the keys themselves live in each agent's data dir
	// (package seal), so that a copy of raft.db or of a snapshot does not
	// open the Secrets it holds.
	SecretKeyID string `json:"secretKeyID,omitempty"`
	// RaftNodes names, sorted, the nodes the leader has made Raft
	// members, now or before. Only they may follow the whole state (a
	// member cut off from its leader; a member removed, whose raft.db
	// holds the state anyway): any other node follows its own view, which
	// holds only the ConfigMaps and Secrets its pods use. An agent from
	// before the marks skips them (MarkRaftNodes is optional), and its
	// state then lets any node follow the whole state, as it did.
	RaftNodes []string `json:"raftNodes,omitempty"`
	// MarksSince is the index from which RaftNodes names every node made
	// a Raft member: 1 in a cluster created with the marks (its first
	// agent sets it in InitTrust), else the first mark's, as the nodes of
	// a cluster created before the marks may have held Raft unmarked. 0:
	// nothing is marked yet. Never derived from an entry's own index at
	// InitTrust: an upgraded agent replaying an old log must reach the
	// state its peers restored from their snapshots.
	MarksSince uint64 `json:"marksSince,omitempty"`
}

// HeldRaft reports whether node is among RaftNodes.
func (t Trust) HeldRaft(node string) bool {
	_, ok := slices.BinarySearch(t.RaftNodes, node)
	return ok
}

// MayHaveHeldRaft reports whether, as far as the state tells, node holds
// or held Raft, and so may follow the whole state: it is marked, or
// nothing is marked yet, or its record is older than the marks (a
// cluster upgraded from before them). A Raft member not yet marked is
// for the caller to check against the Raft configuration.
func (s *State) MayHaveHeldRaft(node string) bool {
	tr := s.trust
	if tr.MarksSince == 0 || tr.HeldRaft(node) {
		return true
	}
	n, ok := s.Node(node)
	return ok && n.CreateIndex != 0 && n.CreateIndex < tr.MarksSince
}

// Role is what a user token may do.
type Role string

// Roles, from most to least power. Kubernetes' user-facing cluster roles
// of the same names are the model.
const (
	// RoleAdmin may do anything, including managing tokens and keys.
	RoleAdmin Role = "admin"
	// RoleEdit may read everything, apply, delete, scale and exec.
	RoleEdit Role = "edit"
	// RoleView may read everything but Secrets; no writes, no exec.
	RoleView Role = "view"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleEdit, RoleView:
		return r, nil
	}
	return "", fmt.Errorf("role %q: expected admin, edit or view", s)
}

// Token is a user's API credential. Only the hash of its secret is kept:
// a copy of the state (a snapshot, a stolen disk) lets nobody call the
// API.
type Token struct {
	// ID is the public half of the token, how it is found.
	ID string `json:"id"`
	// Name says whose it is ("ci", "alice", "root@node-1"); unique.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Hash is the SHA-256 (hex) of the secret half.
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is when it stops working; zero never.
	ExpiresAt time.Time `json:"expiresAt"`
	// CreatedBy names the caller that made it.
	CreatedBy string `json:"createdBy,omitempty"`

	CreateIndex uint64 `json:"createIndex,omitempty"`
}

// Expired reports whether t no longer works at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// Trust returns the cluster's credentials.
func (s *State) Trust() Trust { return s.trust }

// Token returns the user token with this ID.
func (s *State) Token(id string) (*Token, bool) { return get[*Token](s.tokens, id) }

// Tokens returns every user token, by ID.
func (s *State) Tokens() []*Token { return all[*Token](s.tokens, "") }

// SetTrust replaces the cluster's credentials.
func (t *Txn) SetTrust(tr Trust) {
	t.trust = tr
	t.changes.trust = true
}

// Trust returns the credentials as of this change.
func (t *Txn) Trust() Trust { return t.trust }

// Token returns a user token as of this change.
func (t *Txn) Token(id string) (*Token, bool) { return getTxn[*Token](t.tokens, id) }

// Tokens returns every user token as of this change.
func (t *Txn) Tokens() []*Token { return allTxn[*Token](t.tokens, "") }

// PutToken stores tok, stamping its index.
func (t *Txn) PutToken(tok *Token) {
	if tok.CreateIndex == 0 {
		tok.CreateIndex = t.index
	}
	t.tokens.Insert([]byte(tok.ID), tok)
	note(&t.changes.tokens, tok.ID)
}

// DeleteToken removes a user token.
func (t *Txn) DeleteToken(id string) {
	t.tokens.Delete([]byte(id))
	note(&t.changes.tokens, id)
}

// WithTrust returns s with tr as its credentials, at the same index: the
// same state as another source carries it (the state stream leaves the CA
// key out; a member that receives it again puts it back).
func (s *State) WithTrust(tr Trust) *State {
	c := *s
	c.trust = tr
	return &c
}
