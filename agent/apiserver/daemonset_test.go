package apiserver

import (
	"context"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/consensus"
)

const daemonSetYAML = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox:1
`

// TestDaemonSetAPI: a DaemonSet applies, lists with its node counts,
// refuses scale, and drain leaves its pods on the node.
func TestDaemonSetAPI(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	resp, err := c.Apply(ctx, []api.File{{Name: "ds.yaml", Data: daemonSetYAML}})
	if err != nil || len(resp.Results) != 1 || resp.Results[0] != "daemonset.apps/agent created" {
		t.Fatalf("apply: %v %v", resp, err)
	}
	ds, ok := store.State().Workload(cluster.KindDaemonSet, "default", "agent")
	if !ok {
		t.Fatal("no DaemonSet in the state")
	}
	daemon := &cluster.Pod{Namespace: "default", Name: "agent-abcde", UID: "u-d", Ordinal: -1, NodeName: "n1", DaemonNode: "n1",
		Owner: &cluster.OwnerRef{Kind: cluster.KindDaemonSet, Name: "agent", UID: ds.UID}, TemplateHash: ds.TemplateHash,
		Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}}
	bare := &cluster.Pod{Namespace: "default", Name: "bare", UID: "u-b", Ordinal: -1, NodeName: "n1",
		Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}}
	running := cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}
	for _, cmd := range []consensus.Command{
		&consensus.PutPods{Pods: []*cluster.Pod{daemon, bare}},
		&consensus.PodStatus{Node: "n1", Updates: []cluster.PodStatusUpdate{{Ref: daemon.Ref(), Status: running}, {Ref: bare.Ref(), Status: running}}},
	} {
		if _, err := store.Apply(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}

	l, err := c.Workloads(ctx, "daemonsets", "default")
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	want := cluster.DaemonCounts{Desired: 1, Current: 1, Ready: 1, Updated: 1, Available: 1}
	if d := l.Items[0].Status.Daemon; d == nil || *d != want {
		t.Fatalf("status %+v, want %+v", d, want)
	}
	if st, err := c.Rollout(ctx, "daemonsets", "default", "agent"); err != nil || !st.Done {
		t.Fatalf("rollout %+v %v", st, err)
	}
	if err := c.Scale(ctx, "daemonsets", "default", "agent", 3); err == nil || !strings.Contains(err.Error(), "cannot be scaled") {
		t.Fatalf("scale: %v", err)
	}

	if err := c.NodeAction(ctx, "n1", "drain"); err != nil {
		t.Fatal(err)
	}
	st := store.State()
	if p, _ := st.Pod("default", "agent-abcde"); p.Terminating {
		t.Error("drain terminated the DaemonSet pod")
	}
	if p, _ := st.Pod("default", "bare"); !p.Terminating {
		t.Error("drain left the bare pod running")
	}

	// A new template is a revision; undo goes back to the first one.
	if _, err := c.Apply(ctx, []api.File{{Name: "ds.yaml", Data: strings.Replace(daemonSetYAML, "busybox:1", "busybox:2", 1)}}); err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, "daemonsets", "default", "agent")
	if err != nil || len(h.Revisions) != 2 || h.Limit != cluster.DefaultRevisionHistoryLimit {
		t.Fatalf("history %+v %v", h, err)
	}
	if _, err := c.Undo(ctx, "daemonsets", "default", "agent", 0); err != nil {
		t.Fatal(err)
	}
	if wl, _ := store.State().Workload(cluster.KindDaemonSet, "default", "agent"); wl.Template.Containers[0].Image != "busybox:1" {
		t.Fatalf("after undo the image is %s", wl.Template.Containers[0].Image)
	}

	if _, err := c.Delete(ctx, "daemonsets", "default", "agent"); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.State().Workload(cluster.KindDaemonSet, "default", "agent"); ok {
		t.Fatal("DaemonSet still there after delete")
	}
}

// TestReplicaSetAPI: a ReplicaSet applies, scales and deletes like the
// other workloads.
func TestReplicaSetAPI(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	rs := strings.NewReplacer("kind: DaemonSet", "kind: ReplicaSet", "name: agent", "name: front", "spec:\n  selector", "spec:\n  replicas: 2\n  selector").Replace(daemonSetYAML)
	resp, err := c.Apply(ctx, []api.File{{Name: "rs.yaml", Data: rs}})
	if err != nil || len(resp.Results) != 1 || resp.Results[0] != "replicaset.apps/front created" {
		t.Fatalf("apply: %v %v", resp, err)
	}
	if err := c.Scale(ctx, "replicasets", "default", "front", 5); err != nil {
		t.Fatal(err)
	}
	if wl, ok := store.State().Workload(cluster.KindReplicaSet, "default", "front"); !ok || wl.Replicas != 5 {
		t.Fatalf("after scale: %+v", wl)
	}
	l, err := c.Workloads(ctx, "replicasets", "")
	if err != nil || len(l.Items) != 1 || l.Items[0].Workload.Name != "front" || l.Items[0].Status.Daemon != nil {
		t.Fatalf("list: %+v %v", l, err)
	}
	if _, err := c.Delete(ctx, "replicasets", "default", "front"); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.State().Workload(cluster.KindReplicaSet, "default", "front"); ok {
		t.Fatal("ReplicaSet still there after delete")
	}
}
