// Package apiserver is the agent's HTTP API.
//
// Reads are answered from the local state (every agent holds all of it);
// writes are turned into consensus commands and committed through the Raft
// leader, forwarded there when this agent is not the leader.
package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/internal/diskfull"
	"shoal/runtime/rtapi"
)

// Store is the replicated state as the API needs it: local reads, writes
// committed through Raft (consensus.Store implements it).
type Store interface {
	State() *cluster.State
	Apply(ctx context.Context, cmds ...consensus.Command) ([]consensus.Result, error)
}

// Pods runs commands in, and reads logs of, the pods of this node.
type Pods interface {
	Exec(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error)
	Logs(ctx context.Context, podUID, container string, follow bool, w io.Writer) error
}

// Config is what the API server is built from.
type Config struct {
	NodeName string
	Store    Store
	// Pods is nil on an agent that runs no pods.
	Pods Pods
	// ClientTLS is this agent's client side of mutual TLS, for requests it
	// forwards to other agents (its node certificate, the cluster CA).
	ClientTLS *tls.Config
	// CertTTL is how long the node certificates this agent signs last
	// (default a year).
	CertTTL time.Duration
	// RotateWait is how long a gossip key rotation waits between its
	// phases for every agent to follow the keyring (default 3 s).
	RotateWait time.Duration
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	// Leases renews fencing leases on the leader.
	Leases LeaseKeeper
	// Now is the clock for object creation times (tests pin it).
	Now func() time.Time
	// NewUID makes object UIDs.
	NewUID func() string
	// VolumesDir is the data dir's volumes/ (StatefulSet claims, by
	// namespace), served to agents copying a claim that moves; "" serves
	// none.
	VolumesDir string
	// Audit receives one record per write and exec (JSON lines in the
	// agent's data dir); nil keeps none.
	Audit *slog.Logger
	// Secrets is this agent's keyring for Secrets at rest; nil refuses
	// Secrets with data.
	Secrets SecretKeys
	// Metrics is this node's sampled resource usage; nil on an agent
	// that samples none.
	Metrics MetricsSource
	// NodeConditions, if set, maps node names to their live conditions
	// (DiskPressure), which gossip carries and the Raft state does not.
	NodeConditions func() map[string][]string
	// Stream serves the state stream to agents outside Raft; nil serves
	// none.
	Stream StreamSource
	// ReadFrom names the API address of the member whose state stream
	// this agent follows ("" when none): reads go there while the agent
	// holds a node's view (see wholeState). Nil sends them to the leader.
	ReadFrom func() string
}

// Server is the agent's HTTP API.
type Server struct {
	cfg            Config
	proxyTransport *http.Transport
	log            *slog.Logger
	mux            *http.ServeMux
	pods           atomic.Pointer[podsBox]
	// agentHTTP calls other agents' internal routes with this node's
	// certificate (metrics).
	agentHTTP *http.Client
}

type podsBox struct{ Pods }

// SetPods hands the server the local runtime once it is connected; until
// then exec and logs for this node's pods answer that it is starting.
func (s *Server) SetPods(p Pods) { s.pods.Store(&podsBox{p}) }

func (s *Server) localPods() Pods {
	if b := s.pods.Load(); b != nil {
		return b.Pods
	}
	return s.cfg.Pods
}

// NewServer builds the API's routes.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CertTTL <= 0 {
		cfg.CertTTL = 365 * 24 * time.Hour
	}
	if cfg.RotateWait <= 0 {
		cfg.RotateWait = 3 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "api"), mux: http.NewServeMux()}
	s.proxyTransport = &http.Transport{TLSClientConfig: cfg.ClientTLS, ForceAttemptHTTP2: true, HTTP2: apiclient.HTTP2Health()}
	s.agentHTTP = apiclient.NewHTTPClient(cfg.ClientTLS)
	p := api.PathPrefix
	route := func(pattern string, need perm, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		if answersFromState(need, path) {
			h = s.wholeState(h)
		}
		s.mux.HandleFunc(method+" "+p+path, s.guard(need, h))
	}
	route("GET /health", permPublic, s.handleHealth)
	route("POST /join", permPublic, s.handleJoin)
	route("POST /apply", permWrite, s.handleApply)
	route("POST /delete", permWrite, s.handleDeleteFiles)
	route("DELETE /{kind}/{ns}/{name}", permWrite, s.handleDelete)
	route("GET /nodes", permRead, s.handleNodes)
	route("GET /pods", permRead, s.handlePods)
	route("GET /services", permRead, s.handleServices)
	route("GET /deployments", permRead, s.handleWorkloads(cluster.KindDeployment))
	route("GET /statefulsets", permRead, s.handleWorkloads(cluster.KindStatefulSet))
	route("GET /daemonsets", permRead, s.handleWorkloads(cluster.KindDaemonSet))
	route("GET /replicasets", permRead, s.handleWorkloads(cluster.KindReplicaSet))
	route("GET /jobs", permRead, s.handleWorkloads(cluster.KindJob))
	route("GET /cronjobs", permRead, s.handleWorkloads(cluster.KindCronJob))
	route("POST /{kind}/{ns}/{name}/scale", permWrite, s.handleScale)
	route("POST /{kind}/{ns}/{name}/resources", permWrite, s.handleResources)
	route("GET /{kind}/{ns}/{name}/rollout", permRead, s.handleRollout)
	route("POST /{kind}/{ns}/{name}/undo", permWrite, s.handleUndo)
	route("GET /{kind}/{ns}/{name}/history", permRead, s.handleHistory)
	route("GET /pods/{ns}/{name}/logs", permRead, s.handleLogs)
	route("POST /pods/{ns}/{name}/exec", permExec, s.handleExec)
	route("POST /nodes/{name}/{action}", permWrite, s.handleNodeAction)
	route("POST /nodes/{name}/taint", permWrite, s.handleTaint)
	route("POST /images/import", permWrite, s.handleImport)
	route("GET /tokens", permAdmin, s.handleListTokens)
	route("POST /tokens", permAdmin, s.handleCreateToken)
	route("DELETE /tokens/{name}", permAdmin, s.handleRevokeToken)
	route("POST /join-token", permAdmin, s.handleRotateJoin)
	route("POST /gossip/rotate", permAdmin, s.handleRotateGossip)
	for plural, res := range objectResources {
		need := permRead
		if res.kind == cluster.KindSecret {
			need = permSecrets
		}
		route("GET /"+plural, need, s.handleObjects(res.kind))
	}
	route("POST /secrets/rotate-key", permAdmin, s.handleRotateSecretKey)
	route("GET /internal/secret-keys", permNode, s.handleGetSecretKeys)
	route("POST /internal/secret-keys", permNode, s.handleAddSecretKeys)
	route("GET /policy", permRead, s.handleGetPolicy)
	route("PUT /policy", permAdmin, s.handleSetPolicy)
	route("POST /internal/status", permNode, s.handleStatus)
	route("PUT /internal/nodes/{name}", permNode, s.handlePutNode)
	route("POST /internal/lease", permNode, s.handleLease)
	route("POST /internal/forget-claims", permNode, s.handleForgetClaims)
	route("POST /internal/certificate", permNode, s.handleRenew)
	route("GET /internal/metrics", permNode, s.handleInternalMetrics)
	route("GET /internal/stream", permNode, s.handleStream)
	route("GET /metrics/nodes", permRead, s.handleNodeMetrics)
	route("GET /metrics/nodes/{name}", permRead, s.handleNodeMetrics)
	route("GET /metrics/pods", permRead, s.handlePodMetrics)
	route("GET /metrics/namespaces/{ns}/pods/{name}", permRead, s.handlePodMetrics)
	if cfg.Gatherer != nil {
		s.mux.Handle("GET /metrics", s.guard(permRead, promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP))
	}
	return s
}

// answersFromState reports whether a route's answer depends on the
// cluster state as a whole: the users' reads and writes, not what a node
// asks of a member (permNode), the public routes, or what this agent
// does with its own runtime (logs and exec reach the pod's node by its
// name, which a view keeps; an image import goes to this node's
// containerd).
func answersFromState(need perm, path string) bool {
	switch need {
	case permPublic, permNode, permExec:
		return false
	}
	return path != "/images/import" && !strings.HasSuffix(path, "/logs")
}

// viewHolder is a store that may hold a node's view of the state rather
// than the whole state; consensus.Store implements it.
type viewHolder interface {
	HoldsView() bool
}

// wholeState sends a request on while this agent holds a node's view:
// its pods of other nodes are summaries, which would list as pods
// without images and decide writes on half a pod. A read goes to the
// member whose stream this agent follows (Config.ReadFrom), which holds
// the whole state and answers during an election too, and to the leader
// if that member does not answer (it may have died, and the follower not
// noticed yet); a write, or a read when no member is followed, goes to
// the leader. A read with ?local=1 is answered from the view (what this
// node sees).
func (s *Server) wholeState(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := s.cfg.Store.(viewHolder)
		if !ok || !v.HoldsView() {
			h(w, r)
			return
		}
		if r.Method == http.MethodGet {
			if r.URL.Query().Get("local") != "" {
				h(w, r)
				return
			}
			if s.cfg.ReadFrom != nil && r.Header.Get("X-Shoal-Forwarded") == "" {
				if addr := s.cfg.ReadFrom(); addr != "" {
					s.proxyRead(w, r, addr, s.leaderAPIAddr())
					return
				}
			}
		}
		if !s.forwardToLeader(w, r, nil) {
			h(w, r)
		}
	}
}

// Request limits. A body is read whole before it is decoded, so it is
// capped: an apply of many manifests fits easily in MaxRequestBytes, and
// each object is held to consensus.MaxObjectBytes after decoding. Image
// archives stream to containerd and have their own cap.
const (
	MaxRequestBytes = 16 << 20
	maxImageBytes   = 16 << 30
)

// ServeHTTP refuses what no Shoal client sends (browser cross-origin
// requests, writes that are not JSON or YAML), checks the token, then
// routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if audited(r) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func(start time.Time) { s.audit(r, rec.code, start) }(time.Now())
		w = rec
	}
	if err := checkRequest(r, s.cfg.NodeName); err != nil {
		writeError(w, err.code, err)
		return
	}
	limitBodyTime(w, r)
	if c, ok := s.authenticate(r); ok {
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
	} else if r.Header.Get("Authorization") != "" {
		// A wrong or revoked token is refused even on public routes, so
		// a client learns at once that its credential is bad.
		writeError(w, http.StatusUnauthorized, errUnauthenticated)
		return
	}
	// After the token, so that the audit log names who sent a late write.
	if err := checkDeadline(r, s.cfg.NodeName, time.Now()); err != nil {
		writeError(w, err.code, err)
		return
	}
	if s.routeVolume(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// commit applies commands through the local store; on a follower it
// forwards the whole HTTP request to the leader's API instead and reports
// forwarded=true (the answer has been written then).
func (s *Server) commit(w http.ResponseWriter, r *http.Request, body []byte, cmds ...consensus.Command) ([]consensus.Result, bool, error) {
	res, err := s.cfg.Store.Apply(r.Context(), cmds...)
	var nl *consensus.NotLeaderError
	if errors.As(err, &nl) && r.Header.Get("X-Shoal-Forwarded") == "" {
		if n, ok := s.cfg.Store.State().Node(nl.LeaderID); ok && n.APIAddr != "" {
			s.proxy(w, r, n.APIAddr, body)
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%w; the leader's API address is not known yet, retry", err)
	}
	if err != nil {
		return nil, false, err
	}
	for _, r := range res {
		if r.Err != nil {
			return res, false, r.Err
		}
	}
	return res, false, nil
}

// commitOK commits cmds (or forwards the request to the leader) and
// answers {"status": "ok"} or the error.
func (s *Server) commitOK(w http.ResponseWriter, r *http.Request, body []byte, cmds ...consensus.Command) {
	_, forwarded, err := s.commit(w, r, body, cmds...)
	switch {
	case forwarded:
	case err != nil:
		fail(w, err)
	default:
		writeJSON(w, map[string]string{"status": "ok"})
	}
}

// proxy sends the request (with its already-read body) to another agent,
// over mutual TLS. The caller's own token travels with it, so the other
// agent grants exactly the caller's rights; a node's request (no token)
// arrives with this agent's certificate, which may act only for this node.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, addr string, body []byte) {
	// The default answer to an agent that does not answer is a 502 with
	// an empty body, which clients show as an empty error.
	s.proxyTo(w, r, addr, body, func(err error) {
		writeError(w, http.StatusBadGateway, fmt.Errorf("forward to the agent at %s: %w", addr, err))
	})
}

// proxyRead sends a read to the first of addrs ("" skipped) that
// answers. A GET has no body and changes nothing, so sending it again is
// safe; only an agent that did not answer (not reached, or the
// connection lost before its response began) is passed over, never one
// that answered with an error.
func (s *Server) proxyRead(w http.ResponseWriter, r *http.Request, addrs ...string) {
	var errs []error
	for i, addr := range addrs {
		if addr == "" || slices.Contains(addrs[:i], addr) {
			continue
		}
		var failed error
		s.proxyTo(w, r, addr, nil, func(err error) { failed = err })
		if failed == nil {
			return
		}
		errs = append(errs, fmt.Errorf("the agent at %s: %w", addr, failed))
		if r.Context().Err() != nil {
			break // the caller is gone
		}
	}
	writeError(w, http.StatusBadGateway, fmt.Errorf("forward the read: no agent answered: %w", errors.Join(errs...)))
}

// proxyTo forwards r to the agent at addr; unreachable is called, before
// anything is written to w, when that agent did not answer.
func (s *Server) proxyTo(w http.ResponseWriter, r *http.Request, addr string, body []byte, unreachable func(error)) {
	target := &url.URL{Scheme: "https", Host: addr}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = s.proxyTransport
	rp.FlushInterval = -1 // logs -f streams
	rp.ErrorHandler = func(_ http.ResponseWriter, _ *http.Request, err error) { unreachable(err) }
	r2 := r.Clone(r.Context())
	r2.Header.Set("X-Shoal-Forwarded", s.cfg.NodeName)
	if api.IsWrite(r.Method) {
		r2.Header.Set(api.DeadlineHeader, forwardDeadline(r.Header.Get(api.DeadlineHeader), time.Now()).Format(time.RFC3339Nano))
	}
	if body != nil {
		r2.Body = io.NopCloser(strings.NewReader(string(body)))
		r2.ContentLength = int64(len(body))
	}
	rp.ServeHTTP(w, r2)
}

// forwardedWriteDeadline bounds the hop of a forwarded write. Forwarded
// requests share one HTTP/2 connection per agent; one queued on it while
// a partition lasts reaches the leader when the partition heals, ahead
// of the stream reset that says its caller left. The leader refuses it
// then (checkDeadline) instead of applying a write nobody waits for.
const forwardedWriteDeadline = 10 * time.Second

// forwardAllowance is forwardedWriteDeadline, which tests shorten while
// servers run.
var forwardAllowance atomic.Int64

func init() { forwardAllowance.Store(int64(forwardedWriteDeadline)) }

// forwardDeadline is the deadline a forwarded write carries: the
// caller's (header, already checked) or the hop's, whichever is sooner.
func forwardDeadline(header string, now time.Time) time.Time {
	d := now.Add(time.Duration(forwardAllowance.Load())).UTC()
	if c, err := time.Parse(time.RFC3339Nano, header); err == nil && c.Before(d) {
		return c.UTC()
	}
	return d
}

func readBody(r *http.Request, v any) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("request body over %d bytes (16 MiB): apply fewer files at once", MaxRequestBytes)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("decode request: %w", err)
		}
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest marks errors that are the caller's fault.
type badRequest struct{ error }

func (b badRequest) Unwrap() error { return b.error }

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
}

// fail picks the status code for err.
func fail(w http.ResponseWriter, err error) {
	var br badRequest
	switch {
	case errors.As(err, new(forbidden)):
		writeError(w, http.StatusForbidden, err)
	case errors.As(err, &br), errors.Is(err, consensus.ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, consensus.ErrNotFound), errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, consensus.ErrConflict):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, consensus.ErrNotLeader):
		writeError(w, http.StatusServiceUnavailable, err)
	case errors.Is(err, consensus.ErrOutcomeUnknown):
		// As an API server whose store timed out: the write may be done.
		writeError(w, http.StatusGatewayTimeout, err)
	case errors.Is(err, diskfull.ErrFull):
		writeError(w, http.StatusInsufficientStorage, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}

var errNotFound = errors.New("not found")

// conditions returns the live node conditions, nil when none are known.
func (s *Server) conditions() map[string][]string {
	if s.cfg.NodeConditions == nil {
		return nil
	}
	return s.cfg.NodeConditions()
}

// handleHealth answers while the agent serves; a condition such as
// DiskPressure (writes refused) is named, and the answer stays 200: reads
// are still served.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	out := api.Health{Status: "ok", Conditions: s.conditions()[s.cfg.NodeName]}
	if len(out.Conditions) > 0 {
		out.Status = "degraded"
	}
	writeJSON(w, out)
}
