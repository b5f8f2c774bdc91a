package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/runtime/rtapi"
)

// newTestAPI runs the API over a real single-member Raft store on raft's
// in-memory transport, with one registered node.
func newTestAPI(t *testing.T) (*apiclient.Client, *consensus.Store) {
	t.Helper()
	tc := newTestCluster(t, Config{})
	tc.apply(t, &consensus.PutNode{Node: &cluster.Node{
		Name: "n1", Status: cluster.NodeReady,
		Capacity:    cluster.Resources{MilliCPU: 2000, Memory: 4 << 30},
		Allocatable: cluster.Resources{MilliCPU: 2000, Memory: 4 << 30},
	}})
	return tc.user(t, "admin"), tc.store
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1
        resources:
          requests: {cpu: 100m, memory: 32Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
`

func TestApplyIdempotentAndAtomic(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	resp, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deployment.apps/web created", "service/web created"}
	if fmt.Sprint(resp.Results) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v", resp.Results, want)
	}
	resp, err = c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[deployment.apps/web unchanged service/web unchanged]"; fmt.Sprint(resp.Results) != want {
		t.Fatalf("re-apply: %v, want %v", resp.Results, want)
	}
	changed := strings.Replace(deployment, "replicas: 2", "replicas: 3", 1)
	resp, err = c.Apply(ctx, []api.File{{Name: "web.yaml", Data: changed}})
	if err != nil || resp.Results[0] != "deployment.apps/web configured" {
		t.Fatalf("change replicas: %v %v", resp.Results, err)
	}

	before := store.State().Index()
	bad := []struct{ name, data, want string }{
		{"unknown field", strings.Replace(deployment, "replicas: 2", "replicas: 2\n  bogus: 1", 1), "bogus"},
		{"bad quantity", strings.Replace(deployment, "cpu: 100m", "cpu: 12XB", 1), "cpu"},
		{"broken yaml", "kind: [", "bad.yaml"},
		{"unknown kind", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\n", "CronJob"},
		{"duplicate", deployment + "---\n" + strings.SplitN(deployment, "---\n", 2)[0], "defined twice"},
		{"selector change", strings.ReplaceAll(deployment, "app: web", "app: web2"), "immutable"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Apply(ctx, []api.File{{Name: "bad.yaml", Data: tc.data}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if got := store.State().Index(); got != before {
				t.Fatalf("a refused apply changed the state: index %d → %d", before, got)
			}
		})
	}
}

func TestScaleDeleteAndRollout(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	if _, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Scale(ctx, "deployments", "default", "web", 7); err != nil {
		t.Fatal(err)
	}
	wl, ok := store.State().Workload(cluster.KindDeployment, "default", "web")
	if !ok || wl.Replicas != 7 {
		t.Fatalf("after scale: %+v", wl)
	}
	if err := c.Scale(ctx, "deployments", "default", "nope", 1); !apiclient.IsNotFound(err) {
		t.Fatalf("scale of a missing deployment: %v, want not found", err)
	}
	st, err := c.Rollout(ctx, "deployments", "default", "web")
	if err != nil || st.Done || !strings.Contains(st.Message, "0 out of 7 new replicas") {
		t.Fatalf("rollout: %+v %v", st, err)
	}
	if err := c.SetResources(ctx, "deployments", "default", "web", api.ResourcesRequest{
		Limits: cluster.Resources{Memory: 64 << 20}, SetLimits: []string{"memory"},
	}); err != nil {
		t.Fatal(err)
	}
	wl2, _ := store.State().Workload(cluster.KindDeployment, "default", "web")
	if wl2.Template.Containers[0].Limits.Memory != 64<<20 {
		t.Fatalf("set resources did not change the template: %+v", wl2.Template.Containers[0])
	}
	// Resized in place: the template keeps its hash and revision, so
	// nothing rolls and there is no previous template to go back to.
	if wl2.TemplateHash != wl.TemplateHash || wl2.CurrentRevisionNumber() != wl.CurrentRevisionNumber() || wl2.Generation != wl.Generation+1 {
		t.Fatalf("set resources rolled: hash %s→%s revision %d→%d", wl.TemplateHash, wl2.TemplateHash, wl.CurrentRevisionNumber(), wl2.CurrentRevisionNumber())
	}
	if _, err := c.Undo(ctx, "deployments", "default", "web", 0); err == nil || !strings.Contains(err.Error(), "no rollout history") {
		t.Fatalf("undo after an in-place resize: %v", err)
	}
	// Re-applying the manifest puts the old limits back, in place too.
	if res, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}}); err != nil || !strings.Contains(res.Results[0], "configured") {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	wl3, _ := store.State().Workload(cluster.KindDeployment, "default", "web")
	if wl3.TemplateHash != wl.TemplateHash || wl3.Template.Containers[0].Limits != wl.Template.Containers[0].Limits {
		t.Fatalf("re-apply: template %s %+v", wl3.TemplateHash, wl3.Template.Containers[0].Limits)
	}
	if res, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}}); err != nil || !strings.Contains(res.Results[0], "unchanged") {
		t.Fatalf("second re-apply: %+v %v", res, err)
	}
	if _, err := c.Delete(ctx, "deployments", "default", "web"); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.State().Workload(cluster.KindDeployment, "default", "web"); ok {
		t.Fatal("deployment still there after delete")
	}
	if _, err := c.Delete(ctx, "services", "default", "nope"); !apiclient.IsNotFound(err) {
		t.Fatalf("delete of a missing service: %v", err)
	}
}

// TestRevisionHistory: every template change is a revision, the history
// keeps revisionHistoryLimit of them, undo goes back to any of them (the
// pods' template annotations included) and with limit 0 says why it
// cannot.
func TestRevisionHistory(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	version := func(image, note string, limit int) string {
		d := strings.Replace(deployment, "busybox:1", image, 1)
		d = strings.Replace(d, "      labels: {app: web}\n", "      labels: {app: web}\n      annotations: {note: \""+note+"\"}\n", 1)
		return strings.Replace(d, "  replicas: 2\n", fmt.Sprintf("  replicas: 2\n  revisionHistoryLimit: %d\n", limit), 1)
	}
	apply := func(data string) {
		t.Helper()
		if _, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	revisions := func() string {
		t.Helper()
		h, err := c.History(ctx, "deployments", "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range h.Revisions {
			s := fmt.Sprint(r.Revision)
			if r.Current {
				s += "*"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	current := func() *cluster.Workload {
		wl, _ := store.State().Workload(cluster.KindDeployment, "default", "web")
		return wl
	}
	for i := 1; i <= 4; i++ {
		apply(version(fmt.Sprintf("busybox:%d", i), "v1", 2))
	}
	// Only the annotation changes: a new revision too.
	apply(version("busybox:4", "v2", 2))
	if got := revisions(); got != "3 4 5*" {
		t.Fatalf("revisions %q, want 3 4 5* (limit 2)", got)
	}
	resp, err := c.Undo(ctx, "deployments", "default", "web", 3)
	if err != nil || resp.Revision != 3 || resp.Skipped {
		t.Fatalf("undo to 3: %+v %v", resp, err)
	}
	if wl := current(); wl.Template.Containers[0].Image != "busybox:3" || wl.TemplateAnnotations["note"] != "v1" {
		t.Fatalf("after undo to 3: image %s annotations %v", wl.Template.Containers[0].Image, wl.TemplateAnnotations)
	}
	if got := revisions(); got != "4 5 6*" {
		t.Fatalf("after undo: revisions %q, want 4 5 6*", got)
	}
	if resp, err := c.Undo(ctx, "deployments", "default", "web", 6); err != nil || !resp.Skipped {
		t.Fatalf("undo to the current revision: %+v %v, want skipped", resp, err)
	}
	if _, err := c.Undo(ctx, "deployments", "default", "web", 1); err == nil || !strings.Contains(err.Error(), "revision 1 not found") {
		t.Fatalf("undo to a dropped revision: %v", err)
	}
	apply(version("busybox:7", "v1", 0))
	before := store.State().Index()
	_, err = c.Undo(ctx, "deployments", "default", "web", 0)
	if err == nil || !strings.Contains(err.Error(), "spec.revisionHistoryLimit is 0") {
		t.Fatalf("undo with limit 0: %v", err)
	}
	if store.State().Index() != before {
		t.Fatal("a refused undo changed the state")
	}
	if got := revisions(); got != "7*" {
		t.Fatalf("limit 0: revisions %q, want 7*", got)
	}
}

// TestApplyPodMetadata: a bare pod's labels and annotations change in
// place; its spec does not.
func TestApplyPodMetadata(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: p}}\nspec: {containers: [{name: c, image: busybox:1}]}\n"
	if _, err := c.Apply(ctx, []api.File{{Name: "p.yaml", Data: pod}}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.State().Pod("default", "p")
	withNote := strings.Replace(pod, "labels: {app: p}", "labels: {app: p, tier: x}, annotations: {note: hi}", 1)
	resp, err := c.Apply(ctx, []api.File{{Name: "p.yaml", Data: withNote}})
	if err != nil || resp.Results[0] != "pod/p configured" {
		t.Fatalf("metadata change: %v %v", resp, err)
	}
	after, _ := store.State().Pod("default", "p")
	if after.UID != before.UID || after.TemplateHash != before.TemplateHash || after.Annotations["note"] != "hi" || after.Labels["tier"] != "x" {
		t.Fatalf("pod after metadata change: %+v", after)
	}
	if _, err := c.Apply(ctx, []api.File{{Name: "p.yaml", Data: strings.Replace(withNote, "busybox:1", "busybox:2", 1)}}); err == nil ||
		!strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("spec change: %v", err)
	}
}

// TestApplyPodResize: a bare pod's cpu and memory change in place: the
// apply asks for them (DesiredResources) and the scheduler admits them;
// asking for what it has withdraws the request.
func TestApplyPodResize(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox:1, resources: {limits: {cpu: 100m}}}]}\n"
	if _, err := c.Apply(ctx, []api.File{{Name: "p.yaml", Data: pod}}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.State().Pod("default", "p")
	bigger := strings.Replace(pod, "cpu: 100m", "cpu: 300m, memory: 64Mi", 1)
	for i, tc := range []struct {
		manifest, result string
		desired          int64
	}{
		{bigger, "pod/p configured", 300},
		{bigger, "pod/p unchanged", 300},
		{pod, "pod/p configured", 0},
	} {
		resp, err := c.Apply(ctx, []api.File{{Name: "p.yaml", Data: tc.manifest}})
		if err != nil || resp.Results[0] != tc.result {
			t.Fatalf("apply %d: %v %v, want %s", i, resp, err, tc.result)
		}
		after, _ := store.State().Pod("default", "p")
		var desired int64
		if len(after.DesiredResources) == 1 {
			desired = after.DesiredResources[0].Limits.MilliCPU
		}
		if after.UID != before.UID || after.TemplateHash != before.TemplateHash || desired != tc.desired ||
			after.Spec.Containers[0].Limits.MilliCPU != 100 {
			t.Fatalf("apply %d: desired %+v spec %+v", i, after.DesiredResources, after.Spec.Containers[0].Limits)
		}
	}
	// `set resources pod/p` asks the same way; what cannot change in
	// place is refused, and changes nothing.
	if err := c.SetResources(ctx, "pods", "default", "p", api.ResourcesRequest{
		Limits: cluster.Resources{Memory: 96 << 20}, SetLimits: []string{"memory"},
	}); err != nil {
		t.Fatal(err)
	}
	after, _ := store.State().Pod("default", "p")
	if len(after.DesiredResources) != 1 || after.DesiredResources[0].Limits != (cluster.Resources{MilliCPU: 100, Memory: 96 << 20}) {
		t.Fatalf("set resources pod/p: desired %+v", after.DesiredResources)
	}
	index := store.State().Index()
	for _, req := range []api.ResourcesRequest{
		{Limits: cluster.Resources{EphemeralStorage: 1 << 30}, SetLimits: []string{"ephemeral-storage"}},
		{Container: "nope", Limits: cluster.Resources{MilliCPU: 1}, SetLimits: []string{"cpu"}},
	} {
		if err := c.SetResources(ctx, "pods", "default", "p", req); err == nil {
			t.Errorf("%+v accepted", req)
		}
	}
	if store.State().Index() != index {
		t.Fatal("a refused set resources changed the state")
	}
}

// TestLoadBalancerService: a LoadBalancer gets node ports from the FSM,
// keeps them on re-apply, shows the ready nodes' addresses as its
// ingress, and a node port taken by another service is refused.
func TestLoadBalancerService(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	for _, n := range []*cluster.Node{{Name: "n2", Address: "192.0.2.2", Status: cluster.NodeReady}, {Name: "n3", Address: "192.0.2.3", Status: cluster.NodeDown}} {
		if _, err := store.Apply(ctx, &consensus.PutNode{Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	lb := "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{name: http, port: 80}]\n"
	for i, want := range []string{"service/web created", "service/web unchanged"} {
		resp, err := c.Apply(ctx, []api.File{{Name: "lb.yaml", Data: lb}})
		if err != nil || resp.Results[0] != want {
			t.Fatalf("apply %d: %v %v, want %s", i, resp, err, want)
		}
	}
	l, err := c.Services(ctx, "default")
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("services: %+v %v", l, err)
	}
	svc := l.Items[0]
	if svc.Ports[0].NodePort != cluster.NodePortMin || fmt.Sprint(svc.LoadBalancerIngress) != "[192.0.2.2]" {
		t.Errorf("service %+v: want node port %d and ingress [192.0.2.2] (the ready nodes with an address)", svc, cluster.NodePortMin)
	}
	if stored, _ := store.State().Service("default", "web"); stored.LoadBalancerIngress != nil {
		t.Error("the ingress was stored")
	}
	taken := strings.Replace(strings.Replace(lb, "name: web}", "name: other}", 1), "port: 80}", fmt.Sprintf("port: 80, nodePort: %d}", cluster.NodePortMin), 1)
	if _, err := c.Apply(ctx, []api.File{{Name: "other.yaml", Data: taken}}); err == nil || !strings.Contains(err.Error(), "30000 is already used by service default/web") {
		t.Fatalf("taken node port: %v", err)
	}
}

func TestNodesShowRaftRole(t *testing.T) {
	c, _ := newTestAPI(t)
	l, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Node.Raft != cluster.RaftLeader {
		t.Fatalf("nodes: %+v", l.Items)
	}
}

// TestRequestGuards sends what browsers and attackers send: a web page's
// cross-origin request, a form post, an oversized body or object.
func TestRequestGuards(t *testing.T) {
	c, _ := newTestAPI(t)
	base := "https://" + c.Addr + "/v1"
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name, method, path, ctype, origin, body, host string
		code                                          int
		msg                                           string
	}{
		{name: "cross-origin read", method: "GET", path: "/nodes", origin: "https://evil.example", code: 403, msg: "web pages"},
		{name: "rebound host", method: "GET", path: "/nodes", host: "evil.example:7948", code: 403, msg: "not this agent's"},
		{name: "node name as host", method: "GET", path: "/nodes", host: "n1:7948", code: 200},
		{name: "localhost", method: "GET", path: "/nodes", host: "localhost", code: 200},
		{name: "form post", method: "POST", path: "/apply", ctype: "application/x-www-form-urlencoded", body: "files=x", code: 415, msg: "application/json"},
		{name: "text/plain post", method: "POST", path: "/apply", ctype: "text/plain", body: "{}", code: 415, msg: "text/plain"},
		{name: "no content type", method: "POST", path: "/apply", body: "{}", code: 415, msg: "none"},
		{name: "json with charset", method: "POST", path: "/apply", ctype: "application/json; charset=utf-8", body: `{"files":[]}`, code: 400, msg: "no manifest files"},
		{name: "body over the cap", method: "POST", path: "/apply", ctype: "application/json", body: strings.Repeat(" ", MaxRequestBytes+10), code: 400, msg: "request body over"},
		{name: "object over 1 MiB", method: "POST", path: "/apply", ctype: "application/json",
			body: fmt.Sprintf(`{"files":[{"name":"big.yaml","data":"apiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec: {containers: [{name: c, image: busybox:1, env: [{name: BLOB, value: %s}]}]}\n"}]}`, big),
			code: 400, msg: "line 1): object is"},
		{name: "bodiless write", method: "POST", path: "/nodes/n1/cordon", code: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			req.Header.Set("Authorization", "Bearer "+c.Token)
			resp, err := c.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.msg) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, b, tc.code, tc.msg)
			}
		})
	}
}

// fakePods writes size bytes of stdout in pieces, a line of stderr, and
// exits with code 3 (or fails with err).
type fakePods struct {
	size int
	err  error
}

func (f fakePods) Exec(_ context.Context, _, _ string, _ []string, _ io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error) {
	chunk := bytes.Repeat([]byte("x"), 100_000)
	for n := 0; n < f.size; n += len(chunk) {
		if _, err := stdout.Write(chunk[:min(len(chunk), f.size-n)]); err != nil {
			return rtapi.ExecResult{}, err
		}
	}
	_, _ = stderr.Write([]byte("done\n"))
	return rtapi.ExecResult{ExitCode: 3}, f.err
}

func (fakePods) Logs(context.Context, string, string, bool, io.Writer) error { return nil }

// TestExecStreams: exec output streams through the agent the user called
// to the agent running the pod and back, whole however large (nothing
// buffers it), with the exit code; a failure after output has started
// still reaches the client as an error.
func TestExecStreams(t *testing.T) {
	tc := newTestCluster(t, Config{NodeName: "n1"})
	_, n2 := tc.serve(t, Config{NodeName: "n2", Pods: fakePods{size: 20 << 20}})
	_, n3 := tc.serve(t, Config{NodeName: "n3", Pods: fakePods{size: 1000, err: errors.New("shim died")}})
	node := func(name, addr string) *cluster.Node {
		return &cluster.Node{Name: name, APIAddr: addr, Status: cluster.NodeReady, Capacity: cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}}
	}
	pod := func(name, nodeName string) *cluster.Pod {
		return &cluster.Pod{Name: name, UID: "uid-" + name, NodeName: nodeName, Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "busybox:1"}}}}
	}
	tc.apply(t, &consensus.PutNode{Node: node("n1", tc.addr)}, &consensus.PutNode{Node: node("n2", n2)}, &consensus.PutNode{Node: node("n3", n3)})
	tc.apply(t, &consensus.PutPods{Pods: []*cluster.Pod{pod("big", "n2"), pod("dies", "n3")}})

	c := tc.user(t, "edit")
	var stdout, stderr countingWriter
	code, err := c.Exec(context.Background(), "default", "big", api.ExecRequest{Command: []string{"cat", "big"}}, &stdout, &stderr)
	if err != nil || code != 3 || stdout.n != 20<<20 || stderr.n != 5 {
		t.Fatalf("exec: code %d err %v, %d bytes out, %d err; want 3, %d, 5", code, err, stdout.n, 20<<20, stderr.n)
	}
	_, err = c.Exec(context.Background(), "default", "dies", api.ExecRequest{Command: []string{"x"}}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "shim died") {
		t.Fatalf("exec that fails midway: %v", err)
	}
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func TestAuditLog(t *testing.T) {
	var buf syncBuffer
	tc := newTestCluster(t, Config{Audit: slog.New(slog.NewJSONHandler(&buf, nil))})
	c := tc.user(t, "edit")
	ctx := context.Background()
	if _, err := tc.user(t, "view").Apply(ctx, []api.File{{Name: "d.yaml", Data: deployment}}); err == nil {
		t.Fatal("an apply with a view token succeeded")
	}
	if _, err := tc.user(t, "").Apply(ctx, []api.File{{Name: "d.yaml", Data: deployment}}); err == nil {
		t.Fatal("an apply without a token succeeded")
	}
	if _, err := c.Apply(ctx, []api.File{{Name: "d.yaml", Data: deployment}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pods(ctx, ""); err != nil { // a read: not audited
		t.Fatal(err)
	}
	if err := tc.node(t, "n1").ReportStatus(ctx, &consensus.PodStatus{Node: "n1"}); err != nil { // a heartbeat: not audited
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "deployments", "default", "nope"); err == nil {
		t.Fatal("deleting a missing deployment succeeded")
	}
	var got []string
	for line := range strings.Lines(buf.String()) {
		var rec struct {
			Caller, Method, Path, Agent string
			Status                      int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d @%s", rec.Caller, rec.Method, rec.Path, rec.Status, rec.Agent))
	}
	want := []string{
		"view-user POST /v1/apply 403 @n1", "anonymous POST /v1/apply 401 @n1",
		"edit-user POST /v1/apply 200 @n1", "edit-user DELETE /v1/deployments/default/nope 404 @n1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records\n  %q\nwant\n  %q", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTaintNode(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	gpu := cluster.Taint{Key: "nvidia.com/gpu", Value: "present", Effect: cluster.TaintNoSchedule}
	if err := c.Taint(ctx, "n1", api.TaintRequest{Add: []cluster.Taint{gpu}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.State().Node("n1"); !slices.Equal(n.Taints, []cluster.Taint{gpu}) {
		t.Fatalf("taints %v", n.Taints)
	}
	for _, tc := range []struct {
		name, node string
		req        api.TaintRequest
		msg        string
	}{
		{"unknown node", "n9", api.TaintRequest{Add: []cluster.Taint{gpu}}, "not found"},
		{"missing taint", "n1", api.TaintRequest{Remove: []cluster.Taint{{Key: "other"}}}, `taint "other" not found on node n1`},
		{"bad effect", "n1", api.TaintRequest{Add: []cluster.Taint{{Key: "x", Effect: "Never"}}}, "effect NoSchedule, PreferNoSchedule or NoExecute"},
	} {
		if err := c.Taint(ctx, tc.node, tc.req); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.msg)
		}
	}
	if err := c.Taint(ctx, "n1", api.TaintRequest{Remove: []cluster.Taint{{Key: "nvidia.com/gpu"}}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.State().Node("n1"); len(n.Taints) != 0 {
		t.Fatalf("taints after removal %v", n.Taints)
	}
}
