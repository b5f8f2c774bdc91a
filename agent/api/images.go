package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// Importer loads image archives into this node's container runtime.
type Importer interface {
	ImportImage(ctx context.Context, archive io.Reader) ([]string, error)
}

// handleImport loads an OCI or Docker image archive (the request body)
// into this agent's containerd: for machines that reach no registry. It
// imports on this node only.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	imp, ok := s.localPods().(Importer)
	if !ok || imp == nil {
		fail(w, errors.New("this agent is still connecting to containerd; retry"))
		return
	}
	names, err := imp.ImportImage(r.Context(), http.MaxBytesReader(w, r.Body, 16<<30))
	if err != nil {
		fail(w, badRequest{fmt.Errorf("import image archive: %w", err)})
		return
	}
	writeJSON(w, map[string][]string{"images": names})
}

// ImportImage sends an image archive to the agent, which loads it into its
// node's containerd; it returns the image names the archive held.
func (c *Client) ImportImage(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/images/import", nil), f)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach agent at %s: %w", c.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, &StatusError{Code: resp.StatusCode, Message: string(b)}
	}
	var out struct {
		Images []string `json:"images"`
	}
	if err := decodeJSON(resp.Body, &out); err != nil {
		return nil, err
	}
	return out.Images, nil
}
