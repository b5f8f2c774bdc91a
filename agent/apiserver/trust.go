package apiserver

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/pki"
	"shoal/seal"
)

// handleJoin admits a new agent: it proves it holds the join secret (the
// joiner has already checked this agent's certificate against the CA
// digest in its token, so the secret only ever goes to a true member),
// and gets a node certificate, the gossip keyring and a credential for
// its host's root user.
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req api.JoinRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	tr := s.cfg.Store.State().Trust()
	if tr.JoinSecretHash == "" {
		fail(w, fmt.Errorf("%w: this cluster has no join secret yet, retry", consensus.ErrNotLeader))
		return
	}
	if !pki.CheckSecret(req.Secret, tr.JoinSecretHash) {
		s.log.Warn("join refused: wrong join secret", "remote", r.RemoteAddr, "name", req.Name)
		fail(w, forbidden{errors.New("join refused: the token's secret is not this cluster's (it may have been rotated: `shoal token rotate-join` makes a new one)")})
		return
	}
	pub, nreq, err := joinRequest(req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	// The host's root gets an admin token named after the node; a node
	// that joins again (a wiped data dir) replaces its old one.
	token, id, hash, err := NewUserToken()
	if err != nil {
		fail(w, err)
		return
	}
	name := "root@" + req.Name
	var cmds []consensus.Command
	for _, t := range s.cfg.Store.State().Tokens() {
		if t.Name == name {
			cmds = append(cmds, &consensus.DeleteToken{ID: t.ID})
		}
	}
	cmds = append(cmds, &consensus.PutToken{Token: tokenRecord(id, hash, name, cluster.RoleAdmin, 0, "join", s.cfg.Now())})
	_, forwarded, err := s.commit(w, r, body, cmds...)
	if forwarded {
		return
	}
	if err != nil {
		fail(w, fmt.Errorf("join %s: %w", req.Name, err))
		return
	}
	cert, err := s.sign(pub, nreq)
	if err != nil {
		fail(w, fmt.Errorf("join %s: %w", req.Name, err))
		return
	}
	st := s.cfg.Store.State()
	var members []string
	for _, n := range st.Nodes() {
		if n.GossipAddr != "" && n.Name != req.Name {
			members = append(members, n.GossipAddr)
		}
	}
	s.log.Info("node joined", "name", req.Name, "remote", r.RemoteAddr)
	var secretKeys []seal.Key
	if s.cfg.Secrets != nil {
		secretKeys = s.cfg.Secrets.Keys()
	}
	writeJSON(w, api.JoinResponse{
		Certificate: string(cert), CA: st.Trust().CACert, GossipKeys: st.Trust().GossipKeys,
		SecretKeys: secretKeys, Members: members, AdminToken: token,
	})
}

// joinRequest checks a join request's key, name and addresses.
func joinRequest(req api.JoinRequest) (any, pki.NodeRequest, error) {
	pub, err := pki.ParsePublicKey([]byte(req.PublicKey))
	if err != nil {
		return nil, pki.NodeRequest{}, fmt.Errorf("join: public key: %w", err)
	}
	nreq := pki.NodeRequest{Name: req.Name, DNSNames: req.DNSNames}
	for _, a := range req.IPs {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, nreq, fmt.Errorf("join: ips: %q is not an IP address", a)
		}
		nreq.IPs = append(nreq.IPs, ip)
	}
	return pub, nreq, nil
}

// sign issues a node certificate with the cluster CA from the state.
func (s *Server) sign(pub any, req pki.NodeRequest) ([]byte, error) {
	tr := s.cfg.Store.State().Trust()
	ca, err := pki.ParseCA([]byte(tr.CACert), []byte(tr.CAKey))
	if err != nil {
		return nil, fmt.Errorf("load the cluster CA: %w", err)
	}
	req.TTL = s.cfg.CertTTL
	cert, err := ca.SignNode(pub, req, s.cfg.Now())
	if err != nil {
		return nil, badRequest{fmt.Errorf("sign a certificate for node %s: %w", req.Name, err)}
	}
	return cert, nil
}

// handleRenew gives a node a new certificate for a new key, with the
// names and addresses of the certificate it presents: a node cannot
// widen what it may claim to be.
func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerOf(r.Context())
	if c.Node == "" || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		fail(w, forbidden{errors.New("only a node, with its current certificate, renews its certificate")})
		return
	}
	var req api.CertificateRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	pub, err := pki.ParsePublicKey([]byte(req.PublicKey))
	if err != nil {
		fail(w, badRequest{fmt.Errorf("renew: public key: %w", err)})
		return
	}
	if s.cfg.Store.State().Trust().CAKey == "" {
		// Only Raft members hold the CA key (the state stream leaves it
		// out): an agent outside Raft sends its own node's renewal on to
		// the leader, with that same node's certificate. Another node's
		// it refuses, or it would lend its identity to the caller.
		if c.Node != s.cfg.NodeName {
			fail(w, forbidden{fmt.Errorf("renew: %s holds no CA key: a node renews through its own agent", s.cfg.NodeName)})
			return
		}
		if s.forwardToLeader(w, r, body) {
			return
		}
	}
	leaf := r.TLS.VerifiedChains[0][0]
	dns := slices.DeleteFunc(slices.Clone(leaf.DNSNames), func(n string) bool { return n == c.Node })
	cert, err := s.sign(pub, pki.NodeRequest{Name: c.Node, IPs: leaf.IPAddresses, DNSNames: dns})
	if err != nil {
		fail(w, err)
		return
	}
	s.log.Info("node certificate renewed", "node", c.Node)
	writeJSON(w, api.CertificateResponse{Certificate: string(cert)})
}

func tokenInfo(t *cluster.Token) api.TokenInfo {
	return api.TokenInfo{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, CreatedBy: t.CreatedBy}
}

func (s *Server) handleListTokens(w http.ResponseWriter, _ *http.Request) {
	out := []api.TokenInfo{}
	for _, t := range s.cfg.Store.State().Tokens() {
		out = append(out, tokenInfo(t))
	}
	slices.SortFunc(out, func(a, b api.TokenInfo) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, out)
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req api.TokenRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	role, err := cluster.ParseRole(req.Role)
	if err != nil {
		fail(w, badRequest{fmt.Errorf("--role: %w", err)})
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			fail(w, badRequest{fmt.Errorf("--ttl %q: expected a positive duration like 24h", req.TTL)})
			return
		}
	}
	token, id, hash, err := NewUserToken()
	if err != nil {
		fail(w, err)
		return
	}
	name := req.Name
	if name == "" {
		name = string(role) + "-" + id[:6]
	}
	c, _ := CallerOf(r.Context())
	rec := tokenRecord(id, hash, name, role, ttl, c.Name, s.cfg.Now())
	_, forwarded, err := s.commit(w, r, body, &consensus.PutToken{Token: rec})
	if forwarded {
		return
	}
	if err != nil {
		fail(w, fmt.Errorf("create token %s: %w", name, err))
		return
	}
	st := s.cfg.Store.State()
	res := api.TokenResponse{Token: token, Info: tokenInfo(rec), CA: st.Trust().CACert}
	if n, ok := st.Node(s.cfg.NodeName); ok {
		res.Server = n.APIAddr
	}
	writeJSON(w, res)
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("name")
	var id string
	for _, t := range s.cfg.Store.State().Tokens() {
		if t.Name == key || t.ID == key {
			id = t.ID
		}
	}
	if id == "" {
		fail(w, fmt.Errorf("token %s: %w", key, errNotFound))
		return
	}
	s.commitOK(w, r, nil, &consensus.DeleteToken{ID: id})
}

// handleRotateJoin replaces the join secret: agents already in the
// cluster keep their certificates; new ones need the new token.
func (s *Server) handleRotateJoin(w http.ResponseWriter, r *http.Request) {
	cert, err := pki.ParseCert([]byte(s.cfg.Store.State().Trust().CACert))
	if err != nil {
		fail(w, fmt.Errorf("rotate the join secret: read the cluster CA: %w", err))
		return
	}
	tok, err := pki.NewJoinToken(pki.Digest(cert.Raw))
	if err != nil {
		fail(w, err)
		return
	}
	_, forwarded, err := s.commit(w, r, nil, &consensus.SetJoinSecret{Hash: pki.HashSecret(tok.Secret)})
	if forwarded {
		return
	}
	if err != nil {
		fail(w, fmt.Errorf("rotate the join secret: %w", err))
		return
	}
	writeJSON(w, api.JoinTokenResponse{Token: tok.String()})
}

// handleRotateGossip replaces the gossip key in three steps, each
// followed by every agent from the replicated keyring: the new key is
// installed beside the old, then made primary, then the old is dropped.
// Between steps it waits RotateWait for every agent to apply the change,
// so no agent ever receives a message under a key it lacks.
func (s *Server) handleRotateGossip(w http.ResponseWriter, r *http.Request) {
	keys := s.cfg.Store.State().Trust().GossipKeys
	if len(keys) == 0 {
		fail(w, errors.New("rotate the gossip key: the cluster has no gossip key"))
		return
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		fail(w, err)
		return
	}
	old, next := keys[0], base64.StdEncoding.EncodeToString(b[:])
	_, forwarded, err := s.commit(w, r, nil, &consensus.SetGossipKeys{Keys: []string{old, next}})
	if forwarded {
		return
	}
	for _, ring := range [][]string{{next, old}, {next}} {
		if err != nil {
			break
		}
		select {
		case <-r.Context().Done():
			err = r.Context().Err()
		case <-time.After(s.cfg.RotateWait):
			var res []consensus.Result
			if res, err = s.cfg.Store.Apply(r.Context(), &consensus.SetGossipKeys{Keys: ring}); err == nil {
				err = res[0].Err
			}
		}
	}
	if err != nil {
		fail(w, fmt.Errorf("rotate the gossip key (run it again to finish): %w", err))
		return
	}
	s.log.Info("gossip key rotated")
	writeJSON(w, api.RotateResponse{Keys: 1})
}
