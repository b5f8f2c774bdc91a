package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"shoal/agent/api"
	"shoal/consensus"
)

// StreamSource serves the state stream; consensus.Store implements it.
type StreamSource interface {
	ServeStream(ctx context.Context, since uint64, w io.Writer, flush func() error) error
	ServeView(ctx context.Context, since uint64, node string, w io.Writer, flush func() error) error
	StreamServers() []consensus.Server
}

// streamWriteTimeout bounds one write of the stream: a follower that stops
// reading is cut off rather than holding a goroutine and the feed's
// entries forever.
const streamWriteTimeout = 10 * time.Second

// handleStream serves the state stream to another agent (node certificate
// only), or with view=<node> that node's view of it
// (consensus.Store.ServeView), which a node asks for itself only. The
// whole state (every Secret) goes only to a node that is or was a Raft
// member (wholeStateAllowed). An agent that is not a live Raft member
// answers 503 with the members' API addresses, so the follower can go
// there.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	src := s.cfg.Stream
	if src == nil {
		writeError(w, http.StatusNotFound, errors.New("this agent serves no state stream"))
		return
	}
	var since uint64
	if v := r.URL.Query().Get("index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(w, badRequest{errors.New("state stream: index must be a Raft index (an unsigned integer), got " + strconv.Quote(v))})
			return
		}
		since = n
	}
	view := r.URL.Query().Get("view")
	c, _ := CallerOf(r.Context())
	if view != "" && c.Node != view {
		fail(w, forbidden{fmt.Errorf("state stream: %s may not follow the view of node %s", c.Name, view)})
		return
	}
	if view == "" && !s.wholeStateAllowed(src, c.Node) {
		fail(w, forbidden{fmt.Errorf("state stream: node %s is not and never was a Raft member: it may follow only its own view (view=%s)", c.Node, c.Node)})
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-shoal-stream")
	started := false
	out := writerFunc(func(p []byte) (int, error) {
		if !started {
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		return w.Write(p)
	})
	var err error
	if view != "" {
		err = src.ServeView(r.Context(), since, view, out, rc.Flush)
	} else {
		err = src.ServeStream(r.Context(), since, out, rc.Flush)
	}
	if started {
		if err != nil && r.Context().Err() == nil {
			c, _ := CallerOf(r.Context())
			s.log.Debug("state stream ended", "follower", c.Name, "err", err)
		}
		return
	}
	if errors.Is(err, consensus.ErrNotMember) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.StreamRedirect{Error: err.Error(), Servers: s.memberAPIAddrs(src.StreamServers())})
		return
	}
	fail(w, err)
}

// wholeStateAllowed reports whether node may follow the whole state: it
// is a Raft member (one cut off from its leader follows the others), or
// the state tells it was one (cluster.State.MayHaveHeldRaft: marked by
// consensus.MarkRaftNodes, or older than the marks; a member removed
// still holds the state in its raft.db). Kubernetes' node authorizer is
// the model: any other node reads the ConfigMaps and Secrets of its own
// pods only, which its view holds.
func (s *Server) wholeStateAllowed(src StreamSource, node string) bool {
	if s.cfg.Store.State().MayHaveHeldRaft(node) {
		return true
	}
	return slices.ContainsFunc(src.StreamServers(), func(sv consensus.Server) bool { return sv.ID == node })
}

// memberAPIAddrs maps Raft members to the API addresses the state knows.
func (s *Server) memberAPIAddrs(servers []consensus.Server) []string {
	st := s.cfg.Store.State()
	var out []string
	for _, sv := range servers {
		if n, ok := st.Node(sv.ID); ok && n.APIAddr != "" {
			out = append(out, n.APIAddr)
		}
	}
	return out
}
