package main

import (
	"bytes"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
)

// fixtureDaemonSets are two DaemonSets with their pods: node-exporter on
// every node, mid-rollout, one pod Pending for room on its node; and
// ssd-check on the nodes labelled disk=ssd, updated OnDelete.
func fixtureDaemonSets(now time.Time) ([]api.WorkloadView, []*cluster.Pod) {
	limit := int32(10)
	exporter := &cluster.Workload{
		Kind: cluster.KindDaemonSet, Namespace: "default", Name: "node-exporter", UID: "uid-ne",
		Selector: map[string]string{"app": "node-exporter"}, TemplateLabels: map[string]string{"app": "node-exporter"},
		Template: cluster.PodSpec{Containers: []cluster.Container{{Name: "exporter", Image: "prom/node-exporter:v1.8.2",
			Requests: cluster.Resources{MilliCPU: 100, Memory: 64 * mi}}}},
		Strategy: "RollingUpdate", MaxSurge: "0", MaxUnavailable: "1", RevisionHistoryLimit: &limit,
		Generation: 2, TemplateHash: "8f2a4c6e1b", CreatedAt: now.Add(-72 * time.Hour),
	}
	ssd := &cluster.Workload{
		Kind: cluster.KindDaemonSet, Namespace: "default", Name: "ssd-check", UID: "uid-ssd",
		Selector: map[string]string{"app": "ssd-check"}, TemplateLabels: map[string]string{"app": "ssd-check"},
		Template: cluster.PodSpec{NodeSelector: map[string]string{"disk": "ssd"},
			Containers: []cluster.Container{{Name: "check", Image: "busybox:1.36"}}},
		Strategy: "OnDelete", RevisionHistoryLimit: &limit,
		Generation: 1, TemplateHash: "3d5e7f9a2c", CreatedAt: now.Add(-5 * time.Minute),
	}
	pod := func(w *cluster.Workload, name, node, hash string, ready bool) *cluster.Pod {
		p := &cluster.Pod{
			Namespace: "default", Name: name, UID: "uid-" + name, Labels: w.TemplateLabels, Ordinal: -1,
			Owner: &cluster.OwnerRef{Kind: w.Kind, Name: w.Name, UID: w.UID}, TemplateHash: hash,
			Spec: w.Template.Clone(), NodeName: node, DaemonNode: node, CreatedAt: now.Add(-time.Hour),
			Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: ready},
		}
		return p
	}
	pending := pod(exporter, "node-exporter-q8w2z", "", exporter.TemplateHash, false)
	pending.DaemonNode = "node-d"
	pending.Status = cluster.PodStatus{Phase: cluster.PodPending}
	pending.SchedulingMessage = "daemon pod for node node-d: 0/1 nodes are available: 1 insufficient cpu"
	pods := []*cluster.Pod{
		pod(exporter, "node-exporter-4xk9p", "gpu-1", exporter.TemplateHash, true),
		pod(exporter, "node-exporter-b7n2c", "node-b", "1c3e5a7b9d", true),
		pending,
		pod(ssd, "ssd-check-h5t8r", "node-b", ssd.TemplateHash, true),
	}
	views := []api.WorkloadView{
		{Workload: exporter, Status: api.WorkloadStatus{Replicas: 3, Ready: 2, Updated: 2, Available: 1,
			Daemon: &cluster.DaemonCounts{Desired: 3, Current: 2, Ready: 2, Updated: 1, Available: 1}}},
		{Workload: ssd, Status: api.WorkloadStatus{Replicas: 1, Ready: 1, Updated: 1, Available: 1,
			Daemon: &cluster.DaemonCounts{Desired: 1, Current: 1, Ready: 1, Updated: 1, Available: 1}}},
	}
	return views, pods
}

func TestDaemonSetGolden(t *testing.T) {
	views, pods := fixtureDaemonSets(goldenNow)
	r, err := parseKind("ds")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ golden, output string }{
		{"get-daemonsets", ""},
		{"get-daemonsets-wide", "wide"},
		{"get-daemonsets-yaml", "yaml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := show(&b, r, workloadTable("daemonsets", views, pods, goldenNow), tc.output, false); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	for _, v := range views {
		t.Run("describe-daemonset-"+v.Workload.Name, func(t *testing.T) {
			var b bytes.Buffer
			if err := describeWorkload(&b, v, pods); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "describe-daemonset-"+v.Workload.Name, b.Bytes())
		})
	}
}

func TestReplicaSetGolden(t *testing.T) {
	rs := &cluster.Workload{
		Kind: cluster.KindReplicaSet, Namespace: "default", Name: "frontend", UID: "uid-fe", Replicas: 3,
		Selector: map[string]string{"tier": "frontend"}, TemplateLabels: map[string]string{"tier": "frontend"},
		Template:   cluster.PodSpec{Containers: []cluster.Container{{Name: "php-redis", Image: "gb-frontend:v5"}}},
		Generation: 1, TemplateHash: "6a8c0e2f4b", CreatedAt: goldenNow.Add(-2 * time.Hour),
	}
	pod := func(name, node string, ready bool) *cluster.Pod {
		return &cluster.Pod{Namespace: "default", Name: name, UID: "uid-" + name, Labels: rs.TemplateLabels, Ordinal: -1,
			Owner: &cluster.OwnerRef{Kind: rs.Kind, Name: rs.Name, UID: rs.UID}, TemplateHash: rs.TemplateHash,
			Spec: rs.Template.Clone(), NodeName: node, CreatedAt: goldenNow.Add(-time.Hour),
			Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: ready}}
	}
	pods := []*cluster.Pod{pod("frontend-2kx7p", "node-b", true), pod("frontend-9wq4z", "gpu-1", true), pod("frontend-t5m8c", "node-b", false)}
	views := []api.WorkloadView{{Workload: rs, Status: api.WorkloadStatus{Replicas: 3, Ready: 2, Updated: 3, Available: 2}}}
	r, err := parseKind("rs")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ golden, output string }{
		{"get-replicasets", ""},
		{"get-replicasets-wide", "wide"},
		{"get-replicasets-yaml", "yaml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := show(&b, r, workloadTable("replicasets", views, pods, goldenNow), tc.output, false); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	t.Run("describe-replicaset", func(t *testing.T) {
		var b bytes.Buffer
		if err := describeWorkload(&b, views[0], pods); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "describe-replicaset", b.Bytes())
	})
}
