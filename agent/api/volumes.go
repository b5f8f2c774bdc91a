package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"shoal/cluster"
)

// tarCompleteTrailer is sent after the last byte of a volume's tar stream:
// a stream cut short (the source agent died mid-copy) lacks it, and the
// copy is then thrown away instead of swapped in.
const tarCompleteTrailer = "X-Shoal-Tar-Complete"

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
const volumesPath = PathPrefix + "/internal/volumes/"

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
	s.handleVolume(w, r)
	return true
}

// handleVolume streams one StatefulSet claim directory as a tar archive to
// the agent that will run the claim's pod next. ServeHTTP has checked the
// cluster token (or loopback) like for every other route. The pod is
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
	w.Header().Set("Trailer", tarCompleteTrailer)
	if err := WriteTar(w, dir); err != nil {
		s.log.Warn("streaming volume", "namespace", ns, "claim", claim, "err", err)
		panic(http.ErrAbortHandler) // cut the stream: the trailer never comes
	}
	w.Header().Set(tarCompleteTrailer, "true")
}

// FetchVolume copies claim directory claim of namespace ns from the agent
// at c.Addr into destDir, replacing its contents in one step (FetchInto):
// a failed or truncated copy leaves destDir as it was.
func (c *Client) FetchVolume(ctx context.Context, ns, claim, destDir string) error {
	path := "/internal/volumes/" + url.PathEscape(ns) + "/" + url.PathEscape(claim)
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return fmt.Errorf("fetch volume %s/%s: %w", ns, claim, err)
	}
	defer resp.Body.Close()
	err = FetchInto(destDir, func(tmp string) error {
		if err := ExtractTar(resp.Body, tmp); err != nil {
			return err
		}
		// Read to the end, where the trailer is.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.Trailer.Get(tarCompleteTrailer) != "true" {
			return errors.New("stream ended early")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fetch volume %s/%s from %s: %w", ns, claim, c.Addr, err)
	}
	return nil
}

// VolumeFetcher returns what node.Config.FetchVolume wants: it looks up the
// source node's API address in the current state and fetches with the
// cluster token.
func VolumeFetcher(state func() *cluster.State, token string) func(ctx context.Context, fromNode, ns, claim, destDir string) error {
	return func(ctx context.Context, fromNode, ns, claim, destDir string) error {
		n, ok := state().Node(fromNode)
		if !ok || n.APIAddr == "" {
			return fmt.Errorf("node %s: API address unknown", fromNode)
		}
		return NewClient(n.APIAddr, token).FetchVolume(ctx, ns, claim, destDir)
	}
}
