package integration

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

const nodeAgentDaemonSet = `
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: agent
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          resources:
            requests: {cpu: 10m, memory: 8Mi}
`

// TestClusterDaemonSet: a DaemonSet runs one pod on each of the nodes, one
// on a node that joins later, and drain leaves them where they are; a
// ReplicaSet on the same cluster scales.
func TestClusterDaemonSet(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true})
	a := c.Any()
	a.Apply(t, manifest(nodeAgentDaemonSet, c.Image))
	onEach := func(n int) []corev1.Pod {
		pods := a.WaitPods(t, n, Labeled("app", "node-agent"))
		if on := PodsOn(pods); len(on) != n {
			t.Fatalf("%d pods on %d nodes, want one on each: %v", n, len(on), on)
		}
		return pods
	}
	onEach(2)

	_, o := c.AddNetNS("late")
	o.Join = []string{net.JoinHostPort(c.Addr(0), strconv.Itoa(DefaultAPIPort))}
	o.Token = c.Token
	late := StartAgent(t, o)
	pods := onEach(3)
	if PodsOn(pods)[late.Opts.Name] != 1 {
		t.Fatalf("no pod on the late node %s: %v", late.Opts.Name, PodsOn(pods))
	}
	poll.Until(t, PodTimeout, "get daemonsets to count 3 nodes", func() (bool, string) {
		var ds appsv1.DaemonSet
		out := c.Shoal(t, "get", "daemonsets", "node-agent", "-o", "json")
		if err := jsonUnmarshal(out, &ds); err != nil {
			return false, err.Error() + ": " + out
		}
		s := ds.Status
		return s.NumberAvailable == 3 && s.DesiredNumberScheduled == 3, fmt.Sprintf("status %+v", s)
	})

	out := c.Shoal(t, "drain", late.Opts.Name)
	if want := "Warning: ignoring DaemonSet-managed Pods: default/"; !strings.Contains(out, want) {
		t.Errorf("drain said %q, want %q", out, want)
	}
	after := onEach(3)
	for _, p := range after {
		if p.Spec.NodeName == late.Opts.Name && p.UID != podOn(pods, late.Opts.Name).UID {
			t.Errorf("the daemon pod on the drained node was replaced")
		}
	}
	c.Shoal(t, "uncordon", late.Opts.Name)

	// A ReplicaSet: replicas of a template, scaled like a Deployment.
	a.Apply(t, manifest(frontReplicaSet, c.Image))
	a.WaitPods(t, 2, Labeled("app", "front"))
	c.Shoal(t, "scale", "replicaset/front", "--replicas", "4")
	a.WaitPods(t, 4, Labeled("app", "front"))
}

const frontReplicaSet = `
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: front
spec:
  replicas: 2
  selector:
    matchLabels: {app: front}
  template:
    metadata:
      labels: {app: front}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: front
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
`

func podOn(pods []corev1.Pod, node string) corev1.Pod {
	for _, p := range pods {
		if p.Spec.NodeName == node {
			return p
		}
	}
	panic(fmt.Sprintf("no pod on %s", node))
}
