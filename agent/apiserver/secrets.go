package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/seal"
)

// resealChunk bounds the sealed bytes one re-seal entry carries, well
// under consensus.MaxObjectBytes.
const resealChunk = 256 << 10

// handleRotateSecretKey makes a new data key and re-seals every Secret
// with it. Nothing is sealed with the key before a majority of the Raft
// voters hold it on disk; other agents get it now or fetch it when they
// see its ID in the state. Old keys stay in
// the keyrings: entries of the log before the rotation still need them.
func (s *Server) handleRotateSecretKey(w http.ResponseWriter, r *http.Request) {
	if s.forwardToLeader(w, r, nil) {
		return
	}
	if s.cfg.Secrets == nil {
		fail(w, errors.New("rotate the secret key: this agent holds no secret keys"))
		return
	}
	ctx := r.Context()
	key, err := seal.NewKey()
	if err == nil {
		err = s.cfg.Secrets.Add(key)
	}
	if err == nil {
		err = s.pushSecretKey(ctx, key)
	}
	if err != nil {
		fail(w, fmt.Errorf("rotate the secret key (nothing was sealed with the new key; run it again): %w", err))
		return
	}
	if err := s.applyAll(ctx, &consensus.SetSecretKey{ID: key.ID}); err != nil {
		fail(w, fmt.Errorf("rotate the secret key: %w", err))
		return
	}
	n, err := s.reseal(ctx, key.ID)
	if err != nil {
		fail(w, fmt.Errorf("rotate the secret key: %d Secrets re-sealed, then (run it again to finish): %w", n, err))
		return
	}
	s.log.Info("secret key rotated", "key", key.ID, "resealed", n)
	writeJSON(w, api.RotateSecretKeyResponse{KeyID: key.ID, Resealed: n})
}

// applyAll commits commands on this agent (the leader) and returns the
// first error, transport or domain.
func (s *Server) applyAll(ctx context.Context, cmds ...consensus.Command) error {
	res, err := s.cfg.Store.Apply(ctx, cmds...)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// pushSecretKey hands a key to every other agent; it fails unless a
// majority of the Raft voters (this leader included) hold it, so that the
// key survives whatever the log survives. A voter that missed it, like
// any other agent, fetches it when it sees its ID in the state.
func (s *Server) pushSecretKey(ctx context.Context, key seal.Key) error {
	voters := map[string]bool{}
	if ri, ok := s.cfg.Store.(raftInfo); ok {
		for _, sv := range ri.StreamServers() {
			voters[sv.ID] = sv.Voter
		}
	}
	body, err := json.Marshal(api.SecretKeys{Keys: []seal.Key{key}})
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: s.proxyTransport, Timeout: 10 * time.Second}
	held, total := 0, 0
	if voters[s.cfg.NodeName] {
		held = 1
	}
	for _, v := range voters {
		if v {
			total++
		}
	}
	var errs []error
	for _, n := range s.cfg.Store.State().Nodes() {
		if n.Name == s.cfg.NodeName || n.APIAddr == "" {
			continue
		}
		err := postJSON(ctx, hc, "https://"+n.APIAddr+api.PathPrefix+"/internal/secret-keys", body)
		switch {
		case err == nil && voters[n.Name]:
			held++
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			s.log.Warn("secret key not handed over; the agent fetches it later", "node", n.Name, "err", err)
		}
	}
	if total > 0 && held <= total/2 {
		return fmt.Errorf("only %d of %d Raft voters took the new key: %w", held, total, errors.Join(errs...))
	}
	return nil
}

func postJSON(ctx context.Context, hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s: %s", resp.Status, e.Error)
	}
	return nil
}

// reseal re-encrypts every Secret not sealed with key id, in entries of
// bounded size. Each write is conditional: a Secret changed meanwhile by a
// user keeps the user's version (sealed with whichever key was active).
func (s *Server) reseal(ctx context.Context, id string) (int, error) {
	var batch []*cluster.Object
	size, done := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.applyAll(ctx, &consensus.PutObjects{Objects: batch, IfUnchanged: true})
		if err == nil {
			done += len(batch)
		}
		batch, size = nil, 0
		return err
	}
	for _, o := range s.cfg.Store.State().Objects(cluster.KindSecret, "") {
		if cur, err := seal.KeyID(o.Sealed); len(o.Sealed) == 0 || (err == nil && cur == id) {
			continue
		}
		data, err := s.cfg.Secrets.Open(o.Namespace, o.Name, o.Sealed)
		if err != nil {
			return done, err
		}
		c := o.Clone()
		if c.Sealed, err = s.cfg.Secrets.Seal(id, o.Namespace, o.Name, data); err != nil {
			return done, err
		}
		batch, size = append(batch, c), size+len(c.Sealed)
		if size >= resealChunk {
			if err := flush(); err != nil {
				return done, err
			}
		}
	}
	return done, flush()
}

// handleGetSecretKeys gives an agent the keys it lacks (one that was down
// during a rotation, or that lost its key file).
func (s *Server) handleGetSecretKeys(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Secrets == nil {
		fail(w, errors.New("this agent holds no secret keys"))
		return
	}
	writeJSON(w, api.SecretKeys{Keys: s.cfg.Secrets.Keys()})
}

// handleAddSecretKeys takes keys a rotating leader hands over. A key only
// joins the keyring: which one seals is decided by the replicated state.
func (s *Server) handleAddSecretKeys(w http.ResponseWriter, r *http.Request) {
	var req api.SecretKeys
	if _, err := readBody(r, &req); err != nil {
		fail(w, badRequest{err})
		return
	}
	if s.cfg.Secrets == nil {
		fail(w, errors.New("this agent holds no secret keys"))
		return
	}
	if err := s.cfg.Secrets.Add(req.Keys...); err != nil {
		fail(w, badRequest{fmt.Errorf("add secret keys: %w", err)})
		return
	}
	writeJSON(w, map[string]string{"status": "ok"})
}

// forwardToLeader sends the request to the Raft leader when this agent
// does not lead, and reports whether it answered (forwarded, or failed).
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request, body []byte) bool {
	lin, ok := s.cfg.Store.(linearizer)
	if !ok || lin.IsLeader() {
		return false
	}
	if r.Header.Get("X-Shoal-Forwarded") == "" {
		if addr := s.leaderAPIAddr(); addr != "" {
			s.proxy(w, r, addr, body)
			return true
		}
	}
	fail(w, consensus.ErrNotLeader)
	return true
}

// leaderAPIAddr is the Raft leader's API address, or "" while there is
// none or its node record has no address.
func (s *Server) leaderAPIAddr() string {
	ri, ok := s.cfg.Store.(raftInfo)
	if !ok {
		return ""
	}
	_, id := ri.Leader()
	if n, ok := s.cfg.Store.State().Node(id); ok {
		return n.APIAddr
	}
	return ""
}
