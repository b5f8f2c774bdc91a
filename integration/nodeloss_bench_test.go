package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

const lossDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 10
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "` + idle + `"]
        resources: {requests: {cpu: 10m, memory: 8Mi}}
`

// BenchmarkNodeLoss measures, with the agents' default flags (no test
// timings), how long after a node's link is cut its Deployment pods run
// elsewhere: every replica Running and Ready, none on the lost node, as
// another agent's API reports. Between rounds the link comes back and the
// cluster must converge to exactly the desired replicas (the lost node's
// stale copies stopped). Run:
//
//	go test ./integration -run '^$' -bench NodeLoss -benchtime 10x -timeout 30m
func BenchmarkNodeLoss(b *testing.B) {
	c := StartClusterWith(b, ClusterOptions{N: 5, Image: true, Plain: true})
	obs := c.Agents[0]
	obs.Apply(b, manifest(lossDeployment, c.Image))
	obs.WaitPods(b, 10, Labeled("app", "spread"))
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		leader := c.WaitLeader()
		victim := -1
		for i := 1; i < len(c.Agents); i++ {
			if i != leader && len(onNode(obs.Pods(b), c.Agents[i].Opts.Name)) > 0 {
				victim = i
				break
			}
		}
		if victim < 0 {
			b.Fatal("no follower other than agent1 runs a spread pod")
		}
		name := c.Agents[victim].Opts.Name
		start := time.Now()
		c.CutLink(victim)
		poll.Until(b, 2*time.Minute, "the lost node's pods running elsewhere", func() (bool, string) {
			pods := Select(obs.Pods(b), Labeled("app", "spread"))
			ready := 0
			for _, p := range pods {
				if p.Spec.NodeName != name && p.Status.Phase == corev1.PodRunning && IsReady(p) {
					ready++
				}
			}
			return ready >= 10, Summary(pods)
		})
		took = append(took, time.Since(start))
		b.Logf("round %d: %s lost → 10 pods running elsewhere in %v", len(took), name, took[len(took)-1].Round(10*time.Millisecond))
		c.RestoreLink(victim)
		c.WaitFormed()
		// The node back: its stale copies stop, exactly 10 remain.
		poll.Until(b, 2*time.Minute, "exactly 10 replicas after the node came back", func() (bool, string) {
			pods := Select(obs.Pods(b), Labeled("app", "spread"))
			n, ok := c.PodTasksPrefix(victim, "spread-")
			return len(pods) == 10 && ok && n == len(onNode(pods, name)), fmt.Sprintf("%d pods in the API, %d tasks on %s: %s", len(pods), n, name, Summary(pods))
		})
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(took[len(took)/2].Seconds(), "median-s")
	b.ReportMetric(took[(len(took)*95+99)/100-1].Seconds(), "p95-s")
}

func onNode(pods []corev1.Pod, node string) []corev1.Pod {
	return Select(pods, func(p corev1.Pod) bool { return p.Spec.NodeName == node })
}
