package apiserver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/metrics"
)

// recorderWith holds two samples 10 s apart of the node and of each
// container given as "ns/pod/uid/container=millicores,bytes".
func recorderWith(t *testing.T, node string, nodeMilli int64, containers map[string][2]int64) *metrics.Recorder {
	t.Helper()
	r := metrics.NewRecorder(node, 7)
	t0 := time.Now().Add(-10 * time.Second)
	t1 := t0.Add(10 * time.Second)
	r.AddNode(metrics.Sample{At: t0, CPUNanos: 1e12})
	r.AddNode(metrics.Sample{At: t1, CPUNanos: 1e12 + uint64(nodeMilli)*1e7, WorkingSet: 2 << 30})
	for key, v := range containers {
		f := strings.Split(key, "/")
		k := metrics.ContainerKey{Namespace: f[0], Pod: f[1], PodUID: f[2], Container: f[3]}
		r.AddContainer(k, metrics.Sample{At: t0, CPUNanos: 5e9})
		r.AddContainer(k, metrics.Sample{At: t1, CPUNanos: 5e9 + uint64(v[0])*1e7, WorkingSet: v[1]})
	}
	return r
}

func TestMetricsAcrossNodes(t *testing.T) {
	tc := newTestCluster(t, Config{NodeName: "n1", Metrics: recorderWith(t, "n1", 1500, map[string][2]int64{
		"default/web/uid-web/app":  {250, 64 << 20},
		"default/web/uid-web/side": {5, 4 << 20},
	})})
	_, n2 := tc.serve(t, Config{NodeName: "n2", Metrics: recorderWith(t, "n2", 700, map[string][2]int64{
		"kube-system/db/uid-db/db":         {500, 1 << 30},
		"kube-system/old/uid-old-gone/old": {100, 1},
	})})
	// n3 is in the state, Ready (its loss not noticed yet), but its API
	// is not there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n3 := ln.Addr().String()
	ln.Close()
	node := func(name, addr string, status cluster.NodeStatus) *consensus.PutNode {
		return &consensus.PutNode{Node: &cluster.Node{Name: name, APIAddr: addr, Status: status, Allocatable: cluster.Resources{MilliCPU: 2000, Memory: 4 << 30}}}
	}
	pod := func(ns, name, nodeName string) *cluster.Pod {
		return &cluster.Pod{Namespace: ns, Name: name, UID: "uid-" + name, NodeName: nodeName, Labels: map[string]string{"app": name},
			Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "busybox:1"}}}}
	}
	tc.apply(t, node("n1", tc.addr, cluster.NodeReady), node("n2", n2, cluster.NodeReady), node("n3", n3, cluster.NodeReady), node("n4", "127.0.0.1:1", cluster.NodeDown))
	tc.apply(t, &consensus.PutPods{Pods: []*cluster.Pod{pod("default", "web", "n1"), pod("kube-system", "db", "n2"), pod("default", "lost", "n3"), pod("default", "fresh", "n1"), pod("kube-system", "old", "n2")}})
	ctx := context.Background()
	view := tc.user(t, "view")

	nodes, warnings, err := view.NodeMetrics(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeSummary(nodes); got != "n1=1500m/2Gi n2=700m/2Gi" {
		t.Errorf("nodes: %s", got)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "node n3:") {
		t.Errorf("warnings %q, want one for n3 (and none for n4, which is Down)", warnings)
	}
	if n := nodes.Items[0]; n.Kind != "NodeMetrics" || n.APIVersion != "metrics.k8s.io/v1beta1" || n.Window != "10s" || n.Timestamp.IsZero() {
		t.Errorf("node metrics shape %+v", n)
	}

	tests := []struct {
		ns, name     string
		want         string
		wantWarnings int
		wantErr      string
	}{
		// old's UID is not the state's pod's: a stale sample is not served.
		{ns: "", want: "default/web[app=250m/64Mi side=5m/4Mi] kube-system/db[db=500m/1Gi]", wantWarnings: 1},
		{ns: "kube-system", want: "kube-system/db[db=500m/1Gi]"},
		{ns: "kube-system", name: "db", want: "kube-system/db[db=500m/1Gi]"},
		{ns: "default", name: "lost", wantErr: "metrics of pod lost are not available: 1 node(s) did not answer; node n3:"},
		{ns: "default", name: "fresh", wantErr: "metrics of pod fresh are not available yet"},
		{ns: "default", name: "nope", wantErr: `pod "nope" in namespace "default": not found`},
	}
	for _, tt := range tests {
		l, w, err := view.PodMetrics(ctx, tt.ns, tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s/%s: err %v, want %q", tt.ns, tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s: %v", tt.ns, tt.name, err)
			continue
		}
		if got := podSummary(l); got != tt.want || len(w) != tt.wantWarnings {
			t.Errorf("%s/%s: got %s (warnings %q), want %s (%d warnings)", tt.ns, tt.name, got, w, tt.want, tt.wantWarnings)
		}
	}

	// Who may read: people with a role, nodes; the internal route only nodes.
	if _, _, err := tc.user(t, "").NodeMetrics(ctx, ""); err == nil {
		t.Error("metrics read without a credential")
	}
	if _, err := view.NodeReport(ctx, 0); err == nil || !strings.Contains(err.Error(), "may not") {
		t.Errorf("a view token read the internal metrics route: %v", err)
	}
	rep, err := tc.node(t, "n2").NodeReport(ctx, 0)
	if err != nil || rep.Node != "n1" || len(rep.Pods) != 1 || rep.Pods[0].Total().MilliCPU != 255 {
		t.Errorf("internal report %+v %v", rep, err)
	}
}

func TestParseSpan(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false}, {"30s", 30 * time.Second, false}, {"-1s", 0, true}, {"soon", 0, true},
	}
	for _, tt := range tests {
		got, err := parseSpan(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseSpan(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func nodeSummary(l *api.NodeMetricsList) string {
	var out []string
	for _, n := range l.Items {
		out = append(out, n.Metadata.Name+"="+n.Usage["cpu"]+"/"+n.Usage["memory"])
	}
	return strings.Join(out, " ")
}

func podSummary(l *api.PodMetricsList) string {
	var out []string
	for _, p := range l.Items {
		var cs []string
		for _, c := range p.Containers {
			cs = append(cs, c.Name+"="+c.Usage["cpu"]+"/"+c.Usage["memory"])
		}
		out = append(out, p.Metadata.Namespace+"/"+p.Metadata.Name+"["+strings.Join(cs, " ")+"]")
	}
	return strings.Join(out, " ")
}

func TestParseWarning(t *testing.T) {
	tests := []struct{ in, want string }{
		{`299 - "node n3: connection refused"`, "node n3: connection refused"},
		{`299 - "quote \" inside"`, `quote " inside`},
		{`something else`, `something else`},
		{`299 - unquoted`, `299 - unquoted`},
	}
	for _, tt := range tests {
		if got := apiclient.ParseWarning(tt.in); got != tt.want {
			t.Errorf("ParseWarning(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
