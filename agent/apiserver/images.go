package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
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
	// An archive of gigabytes takes longer than the server's read
	// timeout; the size cap still bounds it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	names, err := imp.ImportImage(r.Context(), http.MaxBytesReader(w, r.Body, maxImageBytes))
	if err != nil {
		fail(w, badRequest{fmt.Errorf("import image archive: %w", err)})
		return
	}
	writeJSON(w, map[string][]string{"images": names})
}
