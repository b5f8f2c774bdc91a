package apiserver

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"shoal/agent/api"
	"shoal/cluster"
)

// podHere finds a pod and, when it runs on another node, forwards the
// request to that node's agent (answered=true then).
func (s *Server) podHere(w http.ResponseWriter, r *http.Request, body []byte) (*cluster.Pod, bool) {
	st := s.cfg.Store.State()
	ns, name := r.PathValue("ns"), r.PathValue("name")
	p, ok := st.Pod(ns, name)
	if !ok {
		fail(w, fmt.Errorf("pod %q in namespace %q: %w", name, ns, errNotFound))
		return nil, true
	}
	if p.NodeName == "" {
		fail(w, badRequest{fmt.Errorf("pod %s is not running on any node yet (%s)", name, orNone(p.SchedulingMessage))})
		return nil, true
	}
	if p.NodeName != s.cfg.NodeName {
		n, ok := st.Node(p.NodeName)
		if !ok || n.APIAddr == "" || r.Header.Get("X-Shoal-Forwarded") != "" {
			fail(w, fmt.Errorf("pod %s runs on node %s, whose API is not known", name, p.NodeName))
			return nil, true
		}
		s.proxy(w, r, n.APIAddr, body)
		return nil, true
	}
	if s.localPods() == nil {
		fail(w, fmt.Errorf("this agent is still connecting to containerd; retry"))
		return nil, true
	}
	return p, false
}

func orNone(s string) string {
	if s == "" {
		return "no reason recorded"
	}
	return s
}

// containerName defaults to the pod's first container, as kubectl does.
func containerName(p *cluster.Pod, c string) (string, error) {
	if c == "" {
		return p.Spec.Containers[0].Name, nil
	}
	for _, ct := range append(append([]cluster.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if ct.Name == c {
			return c, nil
		}
	}
	return "", badRequest{fmt.Errorf("container %q is not in pod %s", c, p.Name)}
}

func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	p, answered := s.podHere(w, r, nil)
	if answered {
		return
	}
	c, err := containerName(p, r.URL.Query().Get("container"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := &flushWriter{w: w}
	if f, ok := w.(http.Flusher); ok {
		fw.f = f
	}
	if err := s.localPods().Logs(r.Context(), p.UID, c, r.URL.Query().Get("follow") == "1", fw); err != nil && r.Context().Err() == nil {
		if !fw.wrote {
			fail(w, err)
			return
		}
		s.log.Warn("stream logs", "pod", p.Key(), "err", err)
	}
}

type flushWriter struct {
	w     http.ResponseWriter
	f     http.Flusher
	wrote bool
}

func (fw *flushWriter) Write(b []byte) (int, error) {
	fw.wrote = true
	n, err := fw.w.Write(b)
	if fw.f != nil {
		fw.f.Flush()
	}
	return n, err
}

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	var req api.ExecRequest
	body, err := readBody(r, &req)
	if err != nil {
		fail(w, badRequest{err})
		return
	}
	if len(req.Command) == 0 {
		fail(w, badRequest{fmt.Errorf("exec: no command given")})
		return
	}
	p, answered := s.podHere(w, r, body)
	if answered {
		return
	}
	c, err := containerName(p, req.Container)
	if err != nil {
		fail(w, err)
		return
	}
	// From here the answer is a stream of frames: errors after the first
	// byte travel as an error frame, not as a status code.
	fw := newFrameWriter(w)
	res, err := s.localPods().Exec(r.Context(), p.UID, c, req.Command, strings.NewReader(req.Stdin), fw.stream(api.ExecStdout), fw.stream(api.ExecStderr))
	if err != nil {
		fw.frame(api.ExecErrorFrame, []byte(fmt.Sprintf("exec in pod %s container %s: %v", p.Name, c, err)))
		return
	}
	b, _ := json.Marshal(api.ExecExit{ExitCode: res.ExitCode})
	fw.frame(api.ExecExitFrame, b)
}

// frameWriter writes an exec's output frames as they come, from the
// command's stdout and stderr copiers at once, flushing each.
type frameWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	err     error
}

func newFrameWriter(w http.ResponseWriter) *frameWriter {
	return &frameWriter{w: w, rc: http.NewResponseController(w)}
}

func (f *frameWriter) frame(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if !f.started {
		f.w.Header().Set("Content-Type", api.ExecStreamType)
		f.w.WriteHeader(http.StatusOK)
		f.started = true
	}
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, f.err = f.w.Write(hdr[:]); f.err == nil {
		_, f.err = f.w.Write(p)
	}
	if f.err == nil {
		f.err = f.rc.Flush()
	}
	return f.err
}

// stream is an io.Writer of one output stream, cut into frames.
func (f *frameWriter) stream(kind byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		n := len(p)
		for len(p) > 0 {
			chunk := p[:min(len(p), api.ExecMaxFrame)]
			if err := f.frame(kind, chunk); err != nil {
				// The client went away: the command's context ends too.
				return n - len(p), err
			}
			p = p[len(chunk):]
		}
		return n, nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
