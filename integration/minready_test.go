package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"shoal/internal/poll"
)

const minReadyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: slow}
spec:
  replicas: 1
  minReadySeconds: 6
  selector: {matchLabels: {app: slow}}
  template:
    metadata: {labels: {app: slow}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: IMAGE, command: ["sh", "-c", "IDLE"]}]
`

// TestMinReadySeconds: a ready pod of a Deployment with minReadySeconds
// counts as available only once it has been ready that long, in `get`
// and in the Kubernetes status.
func TestMinReadySeconds(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, strings.ReplaceAll(manifest(minReadyDeployment, image), "IDLE", idle))
	a.WaitPods(t, 1, Labeled("app", "slow"))
	readyAt := time.Now()
	status := func() appsv1.DeploymentStatus {
		var d appsv1.Deployment
		a.ShoalJSON(t, &d, "get", "deployment", "slow")
		return d.Status
	}
	if st := status(); st.ReadyReplicas != 1 || st.AvailableReplicas != 0 {
		t.Fatalf("just ready: %d ready, %d available, want 1 and 0", st.ReadyReplicas, st.AvailableReplicas)
	}
	poll.Until(t, PodTimeout, "the pod to become available", func() (bool, string) {
		st := status()
		return st.AvailableReplicas == 1, fmt.Sprintf("%d ready, %d available", st.ReadyReplicas, st.AvailableReplicas)
	})
	// The leader judges the time from when it saw the pod ready, which
	// is no earlier than what this test saw.
	if waited := time.Since(readyAt); waited < 5*time.Second {
		t.Fatalf("available after %s, minReadySeconds is 6", waited)
	}
	if out := a.Shoal(t, "get", "deployment", "slow"); !strings.Contains(out, "1/1") {
		t.Fatalf("get deployment: %s", out)
	}
}
