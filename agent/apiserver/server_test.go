package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
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
		{"unknown kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "ConfigMap"},
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
	if wl2.TemplateHash == wl.TemplateHash || wl2.Template.Containers[0].Limits.Memory != 64<<20 {
		t.Fatalf("set resources did not change the template: %+v", wl2.Template.Containers[0])
	}
	if err := c.Undo(ctx, "deployments", "default", "web"); err != nil {
		t.Fatal(err)
	}
	wl3, _ := store.State().Workload(cluster.KindDeployment, "default", "web")
	if wl3.TemplateHash != wl.TemplateHash {
		t.Fatalf("undo: template %s, want %s", wl3.TemplateHash, wl.TemplateHash)
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
		name, method, path, ctype, origin, body string
		code                                    int
		msg                                     string
	}{
		{name: "cross-origin read", method: "GET", path: "/nodes", origin: "https://evil.example", code: 403, msg: "web pages"},
		{name: "form post", method: "POST", path: "/apply", ctype: "application/x-www-form-urlencoded", body: "files=x", code: 415, msg: "application/json"},
		{name: "text/plain post", method: "POST", path: "/apply", ctype: "text/plain", body: "{}", code: 415, msg: "text/plain"},
		{name: "no content type", method: "POST", path: "/apply", body: "{}", code: 415, msg: "none"},
		{name: "json with charset", method: "POST", path: "/apply", ctype: "application/json; charset=utf-8", body: `{"files":[]}`, code: 400, msg: "no manifest files"},
		{name: "body over the cap", method: "POST", path: "/apply", ctype: "application/json", body: strings.Repeat(" ", MaxRequestBytes+10), code: 400, msg: "request body over"},
		{name: "object over 1 MiB", method: "POST", path: "/apply", ctype: "application/json",
			body: fmt.Sprintf(`{"files":[{"name":"big.yaml","data":"apiVersion: v1\nkind: Pod\nmetadata: {name: big, annotations: {blob: %s}}\nspec: {containers: [{name: c, image: busybox:1}]}\n"}]}`, big),
			code: 400, msg: "big.yaml: document 1"},
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

func TestCappedBuffer(t *testing.T) {
	b := &cappedBuffer{max: 5}
	for _, w := range []string{"ab", "cde", "fgh", ""} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("write %q: %d, %v", w, n, err)
		}
	}
	if b.String() != "abcde" || b.dropped != 3 {
		t.Errorf("kept %q, dropped %d", b.String(), b.dropped)
	}
}

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
