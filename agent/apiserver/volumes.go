package apiserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"shoal/agent/api"
	"shoal/agent/voltransfer"
)

// validVolumeName refuses path tricks in the namespace and claim of a
// volume request: one plain path element each, and no hidden names (an
// interrupted fetch leaves ".<claim>.fetch-*" directories behind).
func validVolumeName(s string) error {
	if s == "" || strings.ContainsAny(s, "/\\\x00") || strings.HasPrefix(s, ".") {
		return fmt.Errorf("invalid volume path element %q", s)
	}
	return nil
}

// volumesPath is routed before the mux: as a mux pattern it would clash
// with "GET /v1/{kind}/{ns}/{name}/rollout" (net/http refuses two patterns
// neither of which is more specific).
const volumesPath = api.PathPrefix + "/internal/volumes/"

// routeVolume serves GET /v1/internal/volumes/{ns}/{claim}; it reports
// whether the request was one.
func (s *Server) routeVolume(w http.ResponseWriter, r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, volumesPath)
	if !ok {
		return false
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, errors.New("volumes are only read"))
		return true
	}
	ns, claim, _ := strings.Cut(rest, "/")
	r.SetPathValue("ns", ns)
	r.SetPathValue("claim", claim)
	// Only agents move claims: a user has no business reading another
	// node's volume files.
	s.guard(permNode, s.handleVolume)(w, r)
	return true
}

// handleVolume streams one StatefulSet claim directory as a tar archive to
// the agent that will run the claim's pod next; only a node certificate
// may ask. The pod is
// stopped here before anyone asks (the scheduler sets VolumeFrom only once
// it has left the state), so the data is not being written.
func (s *Server) handleVolume(w http.ResponseWriter, r *http.Request) {
	ns, claim := r.PathValue("ns"), r.PathValue("claim")
	if err := errors.Join(validVolumeName(ns), validVolumeName(claim)); err != nil {
		fail(w, badRequest{err})
		return
	}
	if s.cfg.VolumesDir == "" {
		fail(w, fmt.Errorf("this agent keeps no volumes: %w", errNotFound))
		return
	}
	dir := filepath.Join(s.cfg.VolumesDir, ns, claim)
	fi, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fail(w, fmt.Errorf("volume %s/%s on node %s: %w", ns, claim, s.cfg.NodeName, errNotFound))
		return
	case err != nil:
		fail(w, err)
		return
	case !fi.IsDir():
		fail(w, fmt.Errorf("volume %s/%s is not a directory", ns, claim))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Trailer", api.TarCompleteTrailer)
	if err := voltransfer.WriteTar(w, dir); err != nil {
		s.log.Warn("streaming volume", "namespace", ns, "claim", claim, "err", err)
		panic(http.ErrAbortHandler) // cut the stream: the trailer never comes
	}
	w.Header().Set(api.TarCompleteTrailer, "true")
}
