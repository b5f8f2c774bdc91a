package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// instance identifies one run of a container: probe results of an earlier
// run must never kill or gate a later one.
type instance struct {
	id      string
	attempt int
}

// probeResult is what a container's prober concluded so far.
type probeResult struct {
	inst    instance
	started bool // startup probe passed (true when there is none)
	ready   bool // readiness probe passed SuccessThreshold times
	failed  bool // liveness or startup probe failed: restart the container
	msg     string
}

// probeSet holds the results of a worker's probers; probers write, the
// worker's step reads a copy.
type probeSet struct {
	mu  sync.Mutex
	res map[string]probeResult // container name →
}

func (s *probeSet) put(name string, r probeResult) {
	s.mu.Lock()
	s.res[name] = r
	s.mu.Unlock()
}

func (s *probeSet) snapshot() map[string]probeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]probeResult, len(s.res))
	for k, v := range s.res {
		out[k] = v
	}
	return out
}

// Kubernetes' probe defaults.
const (
	defaultPeriod    = 10
	defaultTimeout   = 1
	defaultThreshold = 3
)

// prober runs the probes of one container instance. The startup probe
// gates the others; liveness and readiness run on their own schedules once
// it passed. It stops after a failure that restarts the container: the
// next instance gets a new prober.
type prober struct {
	rt     Runtime
	podUID string
	podIP  string
	c      cluster.Container
	inst   instance
	unit   time.Duration // one probe "second"
	set    *probeSet
	wake   chan struct{}
	// runtimeReady is Config.RuntimeReady (nil: always ready).
	runtimeReady func() bool
}

type probeKind int

const (
	startupProbe probeKind = iota
	livenessProbe
	readinessProbe
)

func (k probeKind) String() string { return [...]string{"startup", "liveness", "readiness"}[k] }

type schedule struct {
	kind       probeKind
	p          *cluster.Probe
	next       time.Time
	succ, fail int32
}

func (p *prober) seconds(s int32, def int32) time.Duration {
	if s <= 0 {
		s = def
	}
	return time.Duration(s) * p.unit
}

func (p *prober) run(ctx context.Context) {
	start := time.Now()
	res := probeResult{inst: p.inst, started: p.c.StartupProbe == nil}
	p.publish(res)
	var scheds []*schedule
	for kind, pr := range []*cluster.Probe{p.c.StartupProbe, p.c.LivenessProbe, p.c.ReadinessProbe} {
		if pr != nil {
			scheds = append(scheds, &schedule{kind: probeKind(kind), p: pr, next: start.Add(p.seconds(pr.InitialDelaySeconds, 0))})
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due *schedule
		for _, s := range scheds {
			if (s.kind == startupProbe) == res.started {
				continue // startup runs until it passes, the others after
			}
			if due == nil || s.next.Before(due.next) {
				due = s
			}
		}
		if due == nil {
			<-ctx.Done()
			return
		}
		timer.Reset(max(time.Until(due.next), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		ok, msg := p.check(ctx, due.p)
		if ctx.Err() != nil {
			return
		}
		due.next = time.Now().Add(p.seconds(due.p.PeriodSeconds, defaultPeriod))
		if p.inconclusive(ok, msg, due.p) {
			continue
		}
		failThreshold := due.p.FailureThreshold
		if failThreshold <= 0 {
			failThreshold = defaultThreshold
		}
		if ok {
			due.succ, due.fail = due.succ+1, 0
		} else {
			due.succ, due.fail = 0, due.fail+1
		}
		before := res
		switch due.kind {
		case startupProbe:
			if ok {
				res.started = true
				// Liveness and readiness start now, but not before their
				// initial delay from the container's start.
				for _, s := range scheds {
					if s.next.Before(time.Now()) {
						s.next = time.Now()
					}
				}
			} else if due.fail >= failThreshold {
				res.failed, res.msg = true, "startup probe failed: "+msg
			}
		case livenessProbe:
			if !ok && due.fail >= failThreshold {
				res.failed, res.msg = true, "liveness probe failed: "+msg
			}
		case readinessProbe:
			succThreshold := max(due.p.SuccessThreshold, 1)
			if ok && due.succ >= succThreshold {
				res.ready, res.msg = true, ""
			} else if !ok && due.fail >= failThreshold {
				res.ready, res.msg = false, "readiness probe failed: "+msg
			}
		}
		if res != before {
			p.publish(res)
		}
		if res.failed {
			// The container is about to be restarted; its next instance
			// gets a fresh prober.
			<-ctx.Done()
			return
		}
	}
}

// unknownOutcome is check's message for an exec the runtime never
// started.
const unknownOutcome = "the runtime did not start the command"

// inconclusive: an exec probe failed (!ok) because the runtime did not
// start the command, or while the runtime is not ready, so the command
// most likely never reached the container; the failure counts neither way.
func (p *prober) inconclusive(ok bool, msg string, pr *cluster.Probe) bool {
	if ok || len(pr.Exec) == 0 {
		return false
	}
	return msg == unknownOutcome || (p.runtimeReady != nil && !p.runtimeReady())
}

func (p *prober) publish(r probeResult) {
	p.set.put(p.c.Name, r)
	poke(p.wake)
}

// check runs a probe once: success, or a failure and why.
func (p *prober) check(ctx context.Context, pr *cluster.Probe) (bool, string) {
	timeout := p.seconds(pr.TimeoutSeconds, defaultTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case len(pr.Exec) > 0:
		var out limitedBuffer
		res, err := p.rt.Exec(ctx, p.podUID, p.c.Name, pr.Exec, nil, &out, &out)
		if errors.Is(err, rtapi.ErrRuntimeUnresponsive) {
			// The command never started: a hung containerd fails every
			// exec before the runtime monitor notices it.
			return false, unknownOutcome
		}
		if ctx.Err() == context.DeadlineExceeded {
			return false, fmt.Sprintf("command timed out after %s", timeout)
		}
		if err != nil {
			return false, err.Error()
		}
		if res.ExitCode != 0 {
			return false, fmt.Sprintf("command exited with %d: %s", res.ExitCode, strings.TrimSpace(out.String()))
		}
		return true, ""
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, pr.HTTPGet, timeout)
	case pr.TCPSocket != nil:
		port, err := containerPort(p.c, pr.TCPSocket.Port, pr.TCPSocket.PortName)
		if err != nil {
			return false, err.Error()
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = p.podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case pr.GRPC != nil:
		return grpcCheck(ctx, p.podIP, pr.GRPC, timeout)
	}
	return false, "probe has no handler"
}

func (p *prober) httpGet(ctx context.Context, h *cluster.HTTPGetAction, timeout time.Duration) (bool, string) {
	port, err := containerPort(p.c, h.Port, h.PortName)
	if err != nil {
		return false, err.Error()
	}
	code, err := httpGet(ctx, h, p.podIP, port, timeout, false)
	if err != nil {
		return false, err.Error()
	}
	if code < 200 || code >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", code)
	}
	return true, ""
}

// httpGet sends a probe's or a hook's GET to the container (the pod's IP
// unless h names a host) and returns the status code. Like the kubelet,
// HTTPS does not verify the certificate (the pod's certificate names a
// service, not its IP); httpFallback retries an HTTPS request answered in
// plain HTTP over HTTP, as the kubelet does for lifecycle hooks. timeout 0
// leaves it to ctx.
func httpGet(ctx context.Context, h *cluster.HTTPGetAction, podIP string, port int32, timeout time.Duration, httpFallback bool) (int, error) {
	host := h.Host
	if host == "" {
		host = podIP
	}
	scheme := "http"
	if strings.EqualFold(h.Scheme, "https") {
		scheme = "https"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(port))) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "shoal-probe/1.0")
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
		},
	}
	resp, err := client.Do(req)
	if err != nil && httpFallback && scheme == "https" && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		req = req.Clone(ctx)
		req.URL.Scheme = "http"
		req.Header.Del("Authorization")
		resp, err = client.Do(req)
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	return resp.StatusCode, nil
}

// containerPort resolves a probe's or a hook's port: a number, or the name
// of one of c's ports.
func containerPort(c cluster.Container, num int32, name string) (int32, error) {
	if num > 0 {
		return num, nil
	}
	for _, cp := range c.Ports {
		if name != "" && cp.Name == name {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %q not found among the container's ports", name)
}

// limitedBuffer keeps the first KiB of a probe command's output for the
// failure message and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 1024 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
