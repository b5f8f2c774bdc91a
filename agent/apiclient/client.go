// Package apiclient is the Go client of the agent's HTTP API: the CLI
// uses it, and agents use it to reach the leader and each other.
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"shoal/agent/api"
	"shoal/agent/voltransfer"
	"shoal/cluster"
	"shoal/consensus"
)

// Client talks to an agent's API, always over TLS.
type Client struct {
	// Addr is HOST:PORT of the agent.
	Addr string
	// Token is the bearer credential of a user; agents talking to each
	// other leave it empty and present their node certificate instead.
	Token string
	// HTTP carries the TLS configuration: the cluster CA to trust and, for
	// agents, the node certificate (see NewClient).
	HTTP *http.Client
	// Consistent makes reads linearizable: answered by the leader after a
	// Raft barrier rather than from the addressed agent's own copy.
	Consistent bool
	// Local makes an agent that holds its node's view (outside Raft)
	// answer reads from that view, other nodes' pods as summaries,
	// instead of sending them to the leader.
	Local bool
	// SendDeadline sends the context's deadline with writes
	// (api.DeadlineHeader): the agent refuses a write that reaches it
	// later. The agent compares it with its own clock, so a caller whose
	// clock is ahead of the agent's by more than its timeout has every
	// write refused; the CLI sets it only for --request-timeout, and
	// agents' own calls, with timeouts of a second or two, leave it off.
	SendDeadline bool
}

// NewClient returns a client for the agent at addr that verifies the
// agent with tlsConf (RootCAs: the cluster CA; never insecure).
func NewClient(addr, token string, tlsConf *tls.Config) *Client {
	return &Client{Addr: addr, Token: token, HTTP: NewHTTPClient(tlsConf)}
}

// NewHTTPClient returns an HTTP client for agents' APIs with tlsConf.
func NewHTTPClient(tlsConf *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConf,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
		HTTP2:               HTTP2Health(),
	}}
}

// deadConnPing is how long an HTTP/2 connection to an agent may stay
// silent before it is pinged, and how long the ping may go unanswered
// before the connection is closed (a variable for tests).
var deadConnPing = 10 * time.Second

// HTTP2Health makes an HTTP/2 transport notice a dead connection. Every
// request to an agent shares one connection; when the agent's machine
// dies or a partition cuts it off, no reset comes, and without pings the
// requests on it wait for TCP to give up retransmitting, about 15
// minutes: a read sent to a member that just died would not fall back
// to the leader, and a CLI without --request-timeout would hang. With
// them the connection is closed, and its requests fail, within 20 s of
// the agent last being heard from (client-go pings after 30 s, with 15 s
// to answer; agents answer in the same data centre, and a loaded one
// still answers a ping within 10 s).
func HTTP2Health() *http.HTTP2Config {
	return &http.HTTP2Config{SendPingTimeout: deadConnPing, PingTimeout: deadConnPing}
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// IsNotFound reports whether err is a 404 from the agent.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

func (c *Client) url(path string, q url.Values) string {
	if c.Consistent || c.Local {
		q2 := url.Values{}
		if c.Consistent {
			q2.Set("consistent", "1")
		}
		if c.Local {
			q2.Set("local", "1")
		}
		for k, v := range q {
			q2[k] = v
		}
		q = q2
	}
	u := "https://" + c.Addr + api.PathPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// do sends a request and decodes a JSON answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	return c.sendRaw(ctx, method, path, q, body, contentType)
}

// sendRaw sends body as it is; a non-2xx answer becomes a *StatusError.
func (c *Client) sendRaw(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if d, ok := ctx.Deadline(); ok && c.SendDeadline && api.IsWrite(method) {
		// Past the point this caller stops waiting, nobody learns what
		// the write did: the agent must not start it then.
		req.Header.Set(api.DeadlineHeader, d.UTC().Format(time.RFC3339Nano))
	}
	hc := c.HTTP
	if hc == nil {
		return nil, errors.New("apiclient: no HTTP client (use NewClient)")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach agent at %s: %w (is `shoal agent` running? set --addr or SHOAL_ADDR)", c.Addr, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e api.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

// Apply stores the objects of manifest files.
func (c *Client) Apply(ctx context.Context, files []api.File) (*api.ApplyResponse, error) {
	return c.ApplyRequest(ctx, api.ApplyRequest{Files: files})
}

// ApplyRequest sends an apply as given: a dry run with req.DryRun.
func (c *Client) ApplyRequest(ctx context.Context, req api.ApplyRequest) (*api.ApplyResponse, error) {
	var out api.ApplyResponse
	err := c.do(ctx, http.MethodPost, "/apply", nil, req, &out)
	return &out, err
}

// DeleteFiles deletes the objects named in manifest files.
func (c *Client) DeleteFiles(ctx context.Context, files []api.File) (*api.ApplyResponse, error) {
	var out api.ApplyResponse
	err := c.do(ctx, http.MethodPost, "/delete", nil, api.ApplyRequest{Files: files}, &out)
	return &out, err
}

// Delete deletes one object; kind is a plural resource ("pods").
func (c *Client) Delete(ctx context.Context, kind, namespace, name string) (*api.ApplyResponse, error) {
	var out api.ApplyResponse
	err := c.do(ctx, http.MethodDelete, "/"+kind+"/"+namespace+"/"+name, nil, nil, &out)
	return &out, err
}

// Nodes lists the nodes.
func (c *Client) Nodes(ctx context.Context) (*api.List[api.NodeView], error) {
	var out api.List[api.NodeView]
	return &out, c.do(ctx, http.MethodGet, "/nodes", nil, nil, &out)
}

// Pods lists the pods of a namespace ("" for all).
func (c *Client) Pods(ctx context.Context, namespace string) (*api.List[*cluster.Pod], error) {
	var out api.List[*cluster.Pod]
	return &out, c.do(ctx, http.MethodGet, "/pods", nsQuery(namespace), nil, &out)
}

// Workloads lists the Deployments or StatefulSets of a namespace ("" for
// all); kind is "deployments" or "statefulsets".
func (c *Client) Workloads(ctx context.Context, kind, namespace string) (*api.List[api.WorkloadView], error) {
	var out api.List[api.WorkloadView]
	return &out, c.do(ctx, http.MethodGet, "/"+kind, nsQuery(namespace), nil, &out)
}

// Services lists the services of a namespace ("" for all).
func (c *Client) Services(ctx context.Context, namespace string) (*api.List[*cluster.Service], error) {
	var out api.List[*cluster.Service]
	return &out, c.do(ctx, http.MethodGet, "/services", nsQuery(namespace), nil, &out)
}

// Objects lists ConfigMaps, Secrets, Namespaces or API-only objects
// (plural: "configmaps", ...) of a namespace ("" for all).
func (c *Client) Objects(ctx context.Context, plural, namespace string) (*api.List[api.ObjectView], error) {
	var out api.List[api.ObjectView]
	return &out, c.do(ctx, http.MethodGet, "/"+plural, nsQuery(namespace), nil, &out)
}

func nsQuery(namespace string) url.Values {
	if namespace == "" {
		return nil
	}
	return url.Values{"namespace": {namespace}}
}

// Scale sets a workload's replicas; kind is "deployments" or "statefulsets".
func (c *Client) Scale(ctx context.Context, kind, namespace, name string, replicas int32) error {
	return c.do(ctx, http.MethodPost, "/"+kind+"/"+namespace+"/"+name+"/scale", nil, api.ScaleRequest{Replicas: replicas}, nil)
}

// SetResources changes container resources of a workload or bare pod.
func (c *Client) SetResources(ctx context.Context, kind, namespace, name string, req api.ResourcesRequest) error {
	return c.do(ctx, http.MethodPost, "/"+kind+"/"+namespace+"/"+name+"/resources", nil, req, nil)
}

// Rollout reports a workload's rollout progress.
func (c *Client) Rollout(ctx context.Context, kind, namespace, name string) (*api.RolloutStatus, error) {
	var out api.RolloutStatus
	return &out, c.do(ctx, http.MethodGet, "/"+kind+"/"+namespace+"/"+name+"/rollout", nil, nil, &out)
}

// Undo rolls a workload back to revision toRevision, or with 0 to the one
// before the current.
func (c *Client) Undo(ctx context.Context, kind, namespace, name string, toRevision int64) (*api.UndoResponse, error) {
	var out api.UndoResponse
	err := c.do(ctx, http.MethodPost, "/"+kind+"/"+namespace+"/"+name+"/undo", nil, api.UndoRequest{ToRevision: toRevision}, &out)
	return &out, err
}

// History lists a workload's revisions (`rollout history`).
func (c *Client) History(ctx context.Context, kind, namespace, name string) (*api.RolloutHistory, error) {
	var out api.RolloutHistory
	err := c.do(ctx, http.MethodGet, "/"+kind+"/"+namespace+"/"+name+"/history", nil, nil, &out)
	return &out, err
}

// NodeAction cordons, uncordons or drains a node.
func (c *Client) NodeAction(ctx context.Context, node, action string) error {
	return c.do(ctx, http.MethodPost, "/nodes/"+node+"/"+action, nil, nil, nil)
}

// Drain cordons a node and evicts its pods as their disruption budgets
// allow; the answer names those that must wait.
func (c *Client) Drain(ctx context.Context, node string) (*api.DrainResponse, error) {
	var out api.DrainResponse
	return &out, c.do(ctx, http.MethodPost, "/nodes/"+node+"/drain", nil, nil, &out)
}

// Taint adds and removes a node's taints.
func (c *Client) Taint(ctx context.Context, node string, req api.TaintRequest) error {
	return c.do(ctx, http.MethodPost, "/nodes/"+node+"/taint", nil, req, nil)
}

// Logs copies a container's log to w; with follow it keeps copying until
// ctx ends.
func (c *Client) Logs(ctx context.Context, namespace, pod, container string, follow bool, w io.Writer) error {
	q := url.Values{}
	if container != "" {
		q.Set("container", container)
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/pods/"+namespace+"/"+pod+"/logs", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// Exec runs a command in a pod's container, copying its output to stdout
// and stderr as it comes, and returns its exit code.
func (c *Client) Exec(ctx context.Context, namespace, pod string, req api.ExecRequest, stdout, stderr io.Writer) (int, error) {
	resp, err := c.send(ctx, http.MethodPost, "/pods/"+namespace+"/"+pod+"/exec", nil, req)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != api.ExecStreamType {
		return -1, fmt.Errorf("exec: the agent answered %q, not an exec stream (an older agent?)", ct)
	}
	return readExecStream(resp.Body, stdout, stderr)
}

// readExecStream copies an exec's frames to stdout and stderr until the
// exit frame.
func readExecStream(r io.Reader, stdout, stderr io.Writer) (int, error) {
	var hdr [5]byte
	buf := make([]byte, api.ExecMaxFrame)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return -1, fmt.Errorf("exec: the stream ended before the command did: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > api.ExecMaxFrame {
			return -1, fmt.Errorf("exec: frame of %d bytes, more than %d", n, api.ExecMaxFrame)
		}
		p := buf[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return -1, fmt.Errorf("exec: the stream ended before the command did: %w", err)
		}
		switch hdr[0] {
		case api.ExecStdout, api.ExecStderr:
			w := stdout
			if hdr[0] == api.ExecStderr {
				w = stderr
			}
			if _, err := w.Write(p); err != nil {
				return -1, fmt.Errorf("exec: write output: %w", err)
			}
		case api.ExecExitFrame:
			var e api.ExecExit
			if err := json.Unmarshal(p, &e); err != nil {
				return -1, fmt.Errorf("exec: exit frame: %w", err)
			}
			return e.ExitCode, nil
		case api.ExecErrorFrame:
			return -1, errors.New(string(p))
		default:
			return -1, fmt.Errorf("exec: unknown frame kind %d", hdr[0])
		}
	}
}

// ReportStatus sends a node's batch of observed pod statuses to be
// committed as it is.
func (c *Client) ReportStatus(ctx context.Context, r *consensus.PodStatus) error {
	return c.do(ctx, http.MethodPost, "/internal/status", nil, r, nil)
}

// ForgetClaims removes the tombstones of claims whose data the node has
// deleted.
func (c *Client) ForgetClaims(ctx context.Context, cmd *consensus.ForgetClaims) error {
	return c.do(ctx, http.MethodPost, "/internal/forget-claims", nil, cmd, nil)
}

// RegisterNode puts a node's record (capacity, addresses, labels, GPUs).
func (c *Client) RegisterNode(ctx context.Context, n *cluster.Node) error {
	return c.do(ctx, http.MethodPut, "/internal/nodes/"+n.Name, nil, n, nil)
}

// WaitReady polls the agent's health endpoint until it answers or ctx ends.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		if err := c.do(ctx, http.MethodGet, "/health", nil, nil, nil); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for agent at %s: %w", c.Addr, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ImportImage sends an image archive to the agent, which loads it into its
// node's containerd; it returns the image names the archive held.
func (c *Client) ImportImage(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	resp, err := c.sendRaw(ctx, http.MethodPost, "/images/import", nil, f, "application/x-tar")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	defer resp.Body.Close()
	var out struct {
		Images []string `json:"images"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Images, nil
}

// RenewLease asks the leader (through this agent) to renew node's lease;
// it returns the state index the node must reach before it starts
// StatefulSet pods (api.LeaseAnswer).
func (c *Client) RenewLease(ctx context.Context, node string) (uint64, error) {
	var ans api.LeaseAnswer
	err := c.do(ctx, http.MethodPost, "/internal/lease", nil, api.LeaseRequest{Node: node}, &ans)
	return ans.Index, err
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
	err = voltransfer.FetchInto(destDir, func(tmp string) error {
		if err := voltransfer.ExtractTar(resp.Body, tmp); err != nil {
			return err
		}
		// Read to the end, where the trailer is.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.Trailer.Get(api.TarCompleteTrailer) != "true" {
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
// source node's API address in the current state and fetches with this
// node's certificate (only nodes may read claim volumes).
func VolumeFetcher(state func() *cluster.State, hc *http.Client) func(ctx context.Context, fromNode, ns, claim, destDir string) error {
	return func(ctx context.Context, fromNode, ns, claim, destDir string) error {
		n, ok := state().Node(fromNode)
		if !ok || n.APIAddr == "" {
			return fmt.Errorf("node %s: API address unknown", fromNode)
		}
		c := &Client{Addr: n.APIAddr, HTTP: hc}
		return c.FetchVolume(ctx, ns, claim, destDir)
	}
}
