package consensus

import (
	"fmt"
	"path"
	"slices"

	"shoal/cluster"
)

// InitTrust records the cluster's CA, join secret hash and gossip keyring
// when the cluster is created. It never replaces a CA: every node
// certificate chains to it.
type InitTrust struct {
	Trust cluster.Trust `json:"trust"`
}

// SetJoinSecret replaces the join secret's hash: tokens with the old
// secret stop admitting new agents.
type SetJoinSecret struct {
	Hash string `json:"hash"`
}

// SetGossipKeys replaces the gossip keyring (base64 keys, primary first);
// every agent follows it (see agent's gossip key rotation).
type SetGossipKeys struct {
	Keys []string `json:"keys"`
}

// SetPodSecurity sets the cluster's pod security level and the host
// directories hostPath volumes may use.
type SetPodSecurity struct {
	Level            string   `json:"level"`
	AllowedHostPaths []string `json:"allowedHostPaths,omitempty"`
}

// MarkRaftNodes adds nodes to Trust.RaftNodes: the leader's autopilot
// marks a node before it makes it a Raft member (and every member not
// yet marked), so that members serve it the whole state. It is optional
// (IgnoreUnknownTypeFlag): an agent from before it skips it, and serves
// the whole state to any node as it did.
type MarkRaftNodes struct {
	Nodes []string `json:"nodes"`
}

func (*MarkRaftNodes) Type() CommandType { return MarkRaftNodesType }
func (*MarkRaftNodes) optional() bool    { return true }

func (c *MarkRaftNodes) apply(a *applier) Result {
	t := a.txn.Trust()
	var add []string
	for _, n := range c.Nodes {
		if n == "" {
			return invalid("mark a Raft node: a node needs a name")
		}
		if !t.HeldRaft(n) && !slices.Contains(add, n) {
			add = append(add, n)
		}
	}
	if len(add) == 0 {
		return Result{Skipped: len(c.Nodes)}
	}
	t.RaftNodes = slices.Sorted(slices.Values(append(slices.Clone(t.RaftNodes), add...)))
	if t.MarksSince == 0 {
		t.MarksSince = a.txn.Index() // a cluster created before the marks
	}
	a.txn.SetTrust(t)
	return Result{Changed: len(add)}
}

// PutToken creates a user token.
type PutToken struct {
	Token *cluster.Token `json:"token"`
}

// DeleteToken revokes a user token.
type DeleteToken struct {
	ID string `json:"id"`
}

func (*InitTrust) Type() CommandType      { return InitTrustType }
func (*SetJoinSecret) Type() CommandType  { return SetJoinSecretType }
func (*SetGossipKeys) Type() CommandType  { return SetGossipKeysType }
func (*PutToken) Type() CommandType       { return PutTokenType }
func (*DeleteToken) Type() CommandType    { return DeleteTokenType }
func (*SetPodSecurity) Type() CommandType { return SetPodSecurityType }

func (c *SetPodSecurity) apply(a *applier) Result {
	switch c.Level {
	case "privileged", "baseline", "restricted":
	default:
		return invalid("pod security level %q: expected privileged, baseline or restricted", c.Level)
	}
	for _, p := range c.AllowedHostPaths {
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			return invalid("allowed host path %q: expected a clean absolute directory other than /", p)
		}
	}
	cfg := a.txn.Config()
	cfg.PodSecurity = c.Level
	cfg.AllowedHostPaths = slices.Clone(c.AllowedHostPaths)
	a.txn.SetConfig(cfg)
	return Result{Changed: 1}
}

func (c *InitTrust) apply(a *applier) Result {
	t := c.Trust
	if t.CACert == "" || (t.CAKey == "" && !a.streamed) || t.JoinSecretHash == "" || len(t.GossipKeys) == 0 {
		return invalid("cluster trust needs a CA certificate and key, a join secret hash and a gossip key")
	}
	if a.txn.Trust().CACert != "" {
		return Result{Err: fmt.Errorf("the cluster already has a CA: %w", ErrConflict)}
	}
	a.txn.SetTrust(t)
	return Result{Changed: 1}
}

func (c *SetJoinSecret) apply(a *applier) Result {
	t := a.txn.Trust()
	if t.CACert == "" {
		return invalid("the cluster has no CA yet")
	}
	if len(c.Hash) != 64 {
		return invalid("join secret hash: expected 64 hex characters")
	}
	t.JoinSecretHash = c.Hash
	a.txn.SetTrust(t)
	return Result{Changed: 1}
}

func (c *SetGossipKeys) apply(a *applier) Result {
	t := a.txn.Trust()
	if t.CACert == "" {
		return invalid("the cluster has no CA yet")
	}
	if len(c.Keys) == 0 || len(c.Keys) > 4 {
		return invalid("gossip keyring: expected 1 to 4 keys, got %d", len(c.Keys))
	}
	t.GossipKeys = append([]string(nil), c.Keys...)
	a.txn.SetTrust(t)
	return Result{Changed: 1}
}

func (c *PutToken) apply(a *applier) Result {
	tok := c.Token
	if tok == nil || tok.ID == "" || tok.Name == "" || len(tok.Hash) != 64 {
		return invalid("token needs an ID, a name and a 64-character hash")
	}
	if _, err := cluster.ParseRole(string(tok.Role)); err != nil {
		return invalid("token %s: %v", tok.Name, err)
	}
	for _, o := range a.txn.Tokens() {
		if o.Name == tok.Name && o.ID != tok.ID {
			return Result{Err: fmt.Errorf("a token named %s exists: %w", tok.Name, ErrConflict)}
		}
	}
	if _, ok := a.txn.Token(tok.ID); ok {
		return Result{Err: fmt.Errorf("token ID %s exists: %w", tok.ID, ErrConflict)}
	}
	a.txn.PutToken(tok)
	return Result{Changed: 1}
}

func (c *DeleteToken) apply(a *applier) Result {
	if _, ok := a.txn.Token(c.ID); !ok {
		return Result{Err: fmt.Errorf("token %s: %w", c.ID, ErrNotFound)}
	}
	a.txn.DeleteToken(c.ID)
	return Result{Changed: 1}
}
