package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"shoal/agent/api"
	"shoal/consensus"
)

// LeaseKeeper is the leader's record of fencing leases; the agent
// implements it (it confirms its leadership before it vouches for one).
// Renew returns the state index the node must reach before it starts
// StatefulSet pods (api.LeaseAnswer).
type LeaseKeeper interface {
	Renew(ctx context.Context, node string) (uint64, error)
}

func (s *Server) handleLease(w http.ResponseWriter, r *http.Request) {
	var req api.LeaseRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if req.Node == "" {
		fail(w, badRequest{errors.New("lease: node name required")})
		return
	}
	if err := actsForSelf(r, req.Node); err != nil {
		fail(w, err)
		return
	}
	if s.cfg.Leases == nil {
		fail(w, errors.New("this agent keeps no leases"))
		return
	}
	index, err := s.cfg.Leases.Renew(r.Context(), req.Node)
	var nl *consensus.NotLeaderError
	if errors.As(err, &nl) && r.Header.Get("X-Shoal-Forwarded") == "" {
		if n, ok := s.cfg.Store.State().Node(nl.LeaderID); ok && n.APIAddr != "" {
			s.proxy(w, r, n.APIAddr, body)
			return
		}
	}
	if err != nil {
		fail(w, fmt.Errorf("renew lease of %s: %w", req.Node, err))
		return
	}
	writeJSON(w, api.LeaseAnswer{Status: "ok", Index: index})
}
