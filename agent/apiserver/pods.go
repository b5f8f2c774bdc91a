package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

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
	stdout, stderr := &cappedBuffer{max: maxExecOutput}, &cappedBuffer{max: maxExecOutput}
	res, err := s.localPods().Exec(r.Context(), p.UID, c, req.Command, strings.NewReader(req.Stdin), stdout, stderr)
	if err != nil {
		fail(w, fmt.Errorf("exec in pod %s container %s: %w", p.Name, c, err))
		return
	}
	errOut := stderr.String()
	if stdout.dropped > 0 || stderr.dropped > 0 {
		errOut += fmt.Sprintf("\nshoal: exec output cut at %d bytes per stream (%d and %d bytes dropped); write large output to a file in a volume instead\n",
			maxExecOutput, stdout.dropped, stderr.dropped)
	}
	writeJSON(w, api.ExecResponse{Stdout: stdout.String(), Stderr: errOut, ExitCode: res.ExitCode})
}

// maxExecOutput bounds what one exec keeps of each of stdout and stderr:
// the answer is one JSON document, held in the agent's memory until sent.
const maxExecOutput = 8 << 20

// cappedBuffer keeps the first max bytes written to it and counts the
// rest, which it drops; the command never sees a write fail.
type cappedBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	keep := min(len(p), max(b.max-b.buf.Len(), 0))
	b.buf.Write(p[:keep])
	b.dropped += int64(len(p) - keep)
	return len(p), nil
}

func (b *cappedBuffer) String() string { return b.buf.String() }
