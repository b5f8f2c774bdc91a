package integration

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// pinnedPair is two Deployments pinned to NODE by its well-known hostname
// label; only "tolerant" tolerates the maint NoExecute taint.
const pinnedPair = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  replicas: 1
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: {kubernetes.io/hostname: NODE}
      containers:
      - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: tolerant}
spec:
  replicas: 1
  selector: {matchLabels: {app: tolerant}}
  template:
    metadata: {labels: {app: tolerant}}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: {kubernetes.io/hostname: NODE}
      tolerations:
      - {key: maint, operator: Exists, effect: NoExecute}
      containers:
      - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
`

// TestClusterNoExecuteTaint: a NoExecute taint on a node evicts the pod
// that does not tolerate it and keeps the one that does; the replacement
// stays Pending with Kubernetes' reason, and runs again once the taint is
// removed.
func TestClusterNoExecuteTaint(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true})
	a := c.Any()
	node := c.Agents[1].Opts.Name
	a.Apply(t, strings.ReplaceAll(manifest(pinnedPair, c.Image), "NODE", node))
	plain := a.WaitPods(t, 1, Labeled("app", "plain"))[0]
	tolerant := a.WaitPods(t, 1, Labeled("app", "tolerant"))[0]
	if plain.Spec.NodeName != node || tolerant.Spec.NodeName != node {
		t.Fatalf("pinned pods on %s and %s, want %s", plain.Spec.NodeName, tolerant.Spec.NodeName, node)
	}

	c.Shoal(t, "taint", "node", node, "maint:NoExecute")
	if d := a.Shoal(t, "describe", "node", node); !strings.Contains(d, "maint:NoExecute") {
		t.Fatalf("describe node does not show the taint:\n%s", d)
	}
	want := "0/2 nodes are available: 1 node(s) didn't match node selector, 1 node(s) had untolerated taint {maint: }"
	poll.Until(t, PodTimeout, "plain evicted and its replacement Pending", func() (bool, string) {
		pods := Select(a.Pods(t), Labeled("app", "plain"))
		for _, p := range pods {
			if p.UID != plain.UID && p.Spec.NodeName == "" && podScheduledMessage(p) == want {
				return true, ""
			}
		}
		return false, "plain pods: " + Summary(pods) + scheduledMessages(pods)
	})
	if p := a.WaitPods(t, 1, Labeled("app", "tolerant"))[0]; p.UID != tolerant.UID || p.Spec.NodeName != node {
		t.Fatalf("tolerant pod replaced or moved: %s on %s", p.UID, p.Spec.NodeName)
	}

	c.Shoal(t, "taint", "node", node, "maint-")
	if p := a.WaitPods(t, 1, Labeled("app", "plain"))[0]; p.Spec.NodeName != node {
		t.Fatalf("plain back on %s, want %s", p.Spec.NodeName, node)
	}
}

func podScheduledMessage(p corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Message
		}
	}
	return ""
}

func scheduledMessages(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "\n%s: %q", p.Name, podScheduledMessage(p))
	}
	return b.String()
}

// spreadOut is a Deployment of REPLICAS that keeps one pod per node by
// required pod anti-affinity on the hostname.
const spreadOut = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: REPLICAS
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: spread}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "` + idle + `"]
        resources:
          requests: {cpu: 10m, memory: 8Mi}
`

// TestClusterPodAntiAffinity: N+1 replicas with required anti-affinity on
// the hostname over N agents run one per node; the extra one stays
// Pending, and describe gives Kubernetes' reason.
func TestClusterPodAntiAffinity(t *testing.T) {
	const n = 2
	c := StartClusterWith(t, ClusterOptions{N: n, Image: true})
	a := c.Any()
	a.Apply(t, strings.ReplaceAll(manifest(spreadOut, c.Image), "REPLICAS", fmt.Sprint(n+1)))
	want := fmt.Sprintf("0/%d nodes are available: %d node(s) didn't match pod anti-affinity rules", n, n)
	var pending corev1.Pod
	poll.Until(t, PodTimeout, "one pod Running on each node and one Pending", func() (bool, string) {
		pods := Select(a.Pods(t), Labeled("app", "spread"))
		var running []corev1.Pod
		var waiting []corev1.Pod
		for _, p := range pods {
			switch {
			case p.Spec.NodeName == "" && podScheduledMessage(p) == want:
				waiting = append(waiting, p)
			case p.Status.Phase == corev1.PodRunning && IsReady(p):
				running = append(running, p)
			}
		}
		on := PodsOn(running)
		if len(pods) != n+1 || len(running) != n || len(on) != n || len(waiting) != 1 {
			return false, "pods: " + Summary(pods) + scheduledMessages(pods)
		}
		pending = waiting[0]
		return true, ""
	})
	d := a.Shoal(t, "describe", "pod", pending.Name)
	for _, line := range []string{
		"Pod Anti-Affinity:",
		"required: app=spread on kubernetes.io/hostname",
		"FailedScheduling  " + want,
	} {
		if !strings.Contains(d, line) {
			t.Errorf("describe pod %s lacks %q:\n%s", pending.Name, line, d)
		}
	}
}
