package integration

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

var claimStatefulSet = dbWithData(1, "16Mi")

// TestClusterDrainMovesVolume: draining moves a StatefulSet pod together
// with its volume data. db-0 writes to its
// claim volume; draining its node stops it there, copies the volume to the
// node it moves to, and the new db-0 reads what the old one wrote.
func TestClusterDrainMovesVolume(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true})
	a := c.Any()
	a.Apply(t, manifest(claimStatefulSet, c.Image))
	old := a.WaitPods(t, 1, Named("db-0"))[0]
	if out, code := a.Exec(t, "db-0", "db", "sh", "-c", "mkdir -p /data/sub && echo precious > /data/sub/file && ln -s sub/file /data/link"); code != 0 {
		t.Fatalf("write the volume: exit %d: %s", code, out)
	}

	c.Shoal(t, "drain", old.Spec.NodeName)
	poll.Until(t, PodTimeout, "db-0 to move off the drained node", func() (bool, string) {
		p, ok := a.Pod(t, "db-0")
		switch {
		case !ok:
			return false, "db-0 not listed"
		case p.UID == old.UID || p.Spec.NodeName == old.Spec.NodeName:
			return false, fmt.Sprintf("db-0 still the old pod on %s", p.Spec.NodeName)
		case p.Status.Phase != corev1.PodRunning || !IsReady(p):
			return false, "new db-0: " + Summary([]corev1.Pod{p})
		}
		return true, ""
	})
	out, code := a.Exec(t, "db-0", "db", "cat", "/data/link")
	if code != 0 || strings.TrimSpace(out) != "precious" {
		t.Fatalf("after the move, /data/link (→ sub/file) reads %q (exit %d), want what the old db-0 wrote", out, code)
	}
	c.Shoal(t, "uncordon", old.Spec.NodeName)
}

// TestClusterVolumeWaitsForDownNode: the node holding db-0's
// volume loses power; db-0 is not started elsewhere without its data, and
// describe says it waits for that node.
func TestClusterVolumeWaitsForDownNode(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	c.Any().Apply(t, manifest(claimStatefulSet, c.Image))
	old := c.Any().WaitPods(t, 1, Named("db-0"))[0]
	down := c.Index(old.Spec.NodeName)
	c.PowerOff(down)
	a := c.Any(down)
	want := "waiting for node " + old.Spec.NodeName + ", which holds volume data-db-0"
	poll.Until(t, ClusterTimeout, "db-0 to wait for its volume", func() (bool, string) {
		// Not Describe: while the fenced pod is replaced, db-0 is briefly
		// not listed at all.
		r := a.Run("describe", "pod", "db-0")
		return strings.Contains(r.Stdout, want), "describe pod db-0 does not say it waits:\n" + r.Stdout + r.Stderr
	})
	if p, ok := a.Pod(t, "db-0"); ok && p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != old.Spec.NodeName {
		t.Fatalf("db-0 runs on %s without its volume", p.Spec.NodeName)
	}
}

const budgetManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: keep}
spec:
  replicas: 2
  selector: {matchLabels: {app: keep}}
  template:
    metadata: {labels: {app: keep}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: IMAGE, command: ["sh", "-c", "IDLE"]}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: keep}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: keep}}
`

// TestClusterDrainKeepsDisruptionBudget: a drain that would take a pod
// the budget needs waits and says why; once a third replica is ready
// elsewhere, the same drain finishes.
func TestClusterDrainKeepsDisruptionBudget(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true})
	a := c.Any()
	a.Apply(t, strings.ReplaceAll(manifest(budgetManifest, c.Image), "IDLE", idle))
	node := a.WaitPods(t, 2, Labeled("app", "keep"))[0].Spec.NodeName

	r := a.Run("drain", node, "--timeout", "2s")
	if r.Code == 0 || !strings.Contains(r.Stderr, "would violate PodDisruptionBudget keep (needs 2 healthy pods and has 2)") {
		t.Fatalf("drain against the budget: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if pods := a.WaitPods(t, 2, Labeled("app", "keep")); len(pods) != 2 {
		t.Fatalf("the budget's pods: %s", Summary(pods))
	}
	a.Shoal(t, "scale", "deployment/keep", "--replicas", "3")
	a.WaitPods(t, 3, Labeled("app", "keep"))
	if out := a.Shoal(t, "drain", node); !strings.Contains(out, "node/"+node+" drained") {
		t.Fatalf("drain with room in the budget: %s", out)
	}
	poll.Until(t, PodTimeout, "the drained node to hold no keep pod", func() (bool, string) {
		on := PodsOn(a.Pods(t))[node]
		return on == 0, fmt.Sprintf("%d pods still on %s", on, node)
	})
	c.Shoal(t, "uncordon", node)
}
