package integration

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

const llmDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: llm
spec:
  replicas: 3
  selector:
    matchLabels: {app: llm}
  template:
    metadata:
      labels: {app: llm}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: llm
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          resources:
            limits: {nvidia.com/gpu: 1}
`

// TestGPUsAdvertised: an agent advertising 2 GPUs that NVML
// cannot see runs 2 of 3 single-GPU replicas, each with its own GPU, and
// keeps the third Pending with a reason naming GPUs; deleting a running
// replica hands its GPU to the waiting one.
func TestGPUsAdvertised(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{Capacity: map[string]string{"nvidia.com/gpu": "2"}})
	a.Apply(t, manifest(llmDeployment, image))
	llm := Labeled("app", "llm")
	running := func(p corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && IsReady(p) }
	var pending corev1.Pod
	poll.Until(t, PodTimeout, "2 llm replicas on the 2 GPUs and 1 unplaced", func() (bool, string) {
		all := Select(a.Pods(t), llm)
		var waiting []corev1.Pod
		for _, p := range all {
			if p.Spec.NodeName == "" {
				waiting = append(waiting, p)
			}
		}
		if len(all) != 3 || len(Select(all, running)) != 2 || len(waiting) != 1 {
			return false, "want 2 Running and 1 unplaced: " + Summary(all)
		}
		pending = waiting[0]
		return true, ""
	})
	devices := map[string]string{}
	for _, p := range Select(Select(a.Pods(t), llm), running) {
		out, code := a.Exec(t, p.Name, "llm", "sh", "-c", "echo $NVIDIA_VISIBLE_DEVICES")
		dev := strings.TrimSpace(out)
		if code != 0 || (dev != "0" && dev != "1") {
			t.Fatalf("%s: NVIDIA_VISIBLE_DEVICES=%q (exit %d), want 0 or 1", p.Name, dev, code)
		}
		if other, dup := devices[dev]; dup {
			t.Fatalf("GPU %s given to both %s and %s", dev, other, p.Name)
		}
		devices[dev] = p.Name
	}
	reason := regexp.MustCompile(`0/1 nodes are available: 1 insufficient nvidia\.com/gpu`)
	if d := a.Describe(t, "pod", pending.Name); !reason.MatchString(d) {
		t.Errorf("describe pod %s does not name GPUs as the reason:\n%s", pending.Name, d)
	}
	wide := a.Shoal(t, "get", "nodes", "-o", "wide")
	if !strings.Contains(wide, "2/2") {
		t.Errorf("get nodes -o wide does not show 2/2 GPUs used:\n%s", wide)
	}
	node := a.Describe(t, "node", "agent1")
	for dev, pod := range devices {
		if !regexp.MustCompile(`(?m)^\s+` + dev + `\s.*default/` + regexp.QuoteMeta(pod)).MatchString(node) {
			t.Errorf("describe node does not list GPU %s held by %s:\n%s", dev, pod, node)
		}
	}

	victim := devices["0"]
	a.Shoal(t, "delete", "pod", victim)
	poll.Until(t, PodTimeout, "the unplaced replica to take the freed GPU", func() (bool, string) {
		all := Select(a.Pods(t), llm)
		p, ok := a.Pod(t, pending.Name)
		if !ok || !running(p) {
			return false, "the Pending replica has not started on the freed GPU: " + Summary(all)
		}
		if slices.Contains(Names(all), victim) {
			return false, victim + " still listed: " + Summary(all)
		}
		return true, ""
	})
	out, _ := a.Exec(t, pending.Name, "llm", "sh", "-c", "echo $NVIDIA_VISIBLE_DEVICES")
	if got := strings.TrimSpace(out); got != "0" {
		t.Errorf("%s got GPU %q, want the freed GPU 0", pending.Name, got)
	}
}
