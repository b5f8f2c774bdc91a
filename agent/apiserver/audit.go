package apiserver

import (
	"log/slog"
	"net/http"
	"shoal/agent/api"
	"time"
)

// Routes left out of the audit log: every node sends them every few
// hundred milliseconds, and they change nothing a person asked for.
var unaudited = map[string]bool{
	api.PathPrefix + "/internal/status": true,
	api.PathPrefix + "/internal/lease":  true,
}

// audited reports whether a request goes into the audit log: every write
// (exec included, a POST) except the nodes' own heartbeats.
func audited(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !unaudited[r.URL.Path]
}

// caller names who sent r, for the audit log: the token's name or the
// node, else anonymous (refused unless the route is public).
func (s *Server) caller(r *http.Request) string {
	if c, ok := CallerOf(r.Context()); ok {
		return c.Name
	}
	return "anonymous"
}

// statusRecorder remembers the status code a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes) through the recorder.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// audit records one request: who, what, and the answer's status; never
// the body, which may hold secrets.
func (s *Server) audit(r *http.Request, code int, start time.Time) {
	if s.cfg.Audit == nil {
		return
	}
	if code == 0 {
		code = http.StatusOK // the handler wrote nothing
	}
	attrs := []slog.Attr{slog.String("caller", s.caller(r))}
	if n := r.Header.Get("X-Shoal-Forwarded"); n != "" {
		attrs = append(attrs, slog.String("via", n))
	}
	s.cfg.Audit.LogAttrs(r.Context(), slog.LevelInfo, "request", append(attrs,
		slog.String("remote", r.RemoteAddr),
		slog.String("agent", s.cfg.NodeName),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", code),
		slog.Duration("took", time.Since(start)),
	)...)
}
