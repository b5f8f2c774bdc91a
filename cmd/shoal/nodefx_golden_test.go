package main

import (
	"bytes"
	"testing"
	"time"

	"shoal/cluster"
)

// podEvicted went over its ephemeral-storage limit: the node stopped it
// and reported it Failed, reason Evicted.
func podEvicted(now time.Time) *cluster.Pod {
	return &cluster.Pod{
		Namespace: "default", Name: "scratch-7f9d-kq2vx", UID: "a3f1c2d4-0101",
		Labels: map[string]string{"app": "scratch"}, Owner: owner(cluster.KindDeployment, "scratch"), Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "fill", Image: "busybox:1.36",
			Command:  []string{"sh", "-c", "dd if=/dev/zero of=/big bs=1M count=40; sleep 3600"},
			Requests: cluster.Resources{EphemeralStorage: 10 * mi},
			Limits:   cluster.Resources{EphemeralStorage: 20 * mi},
		}}},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodFailed, Reason: "Evicted",
			Message: "Pod ephemeral local storage usage exceeds the total limit of containers 20Mi.",
			PodIP:   "10.88.2.30", HostIP: "10.0.0.12", StartedAt: now.Add(-2 * time.Minute),
			Containers: []cluster.ContainerStatus{{
				Name: "fill", State: cluster.ContainerTerminated, Reason: "Error", ExitCode: 137,
				StartedAt: now.Add(-2 * time.Minute), FinishedAt: now.Add(-90 * time.Second), Image: "busybox:1.36",
			}},
		},
		CreatedAt: now.Add(-2 * time.Minute),
	}
}

// podPostStartFailed has a postStart hook that keeps failing: the
// container is stopped after each start and backs off.
func podPostStartFailed(now time.Time) *cluster.Pod {
	msg := `Exec lifecycle hook ([sh -c /warm-up]) for Container "api" in Pod "default/hooks-5d8c-p7m2n" failed - error: command 'sh -c /warm-up' exited with 127, message: "sh: /warm-up: not found"`
	return &cluster.Pod{
		Namespace: "default", Name: "hooks-5d8c-p7m2n", UID: "a3f1c2d4-0102",
		Labels: map[string]string{"app": "hooks"}, Owner: owner(cluster.KindDeployment, "hooks"), Ordinal: -1,
		Spec: cluster.PodSpec{Containers: []cluster.Container{{
			Name: "api", Image: "registry.local:5000/api:3",
			Lifecycle: &cluster.Lifecycle{
				PostStart: &cluster.LifecycleHandler{Exec: []string{"sh", "-c", "/warm-up"}},
				PreStop:   &cluster.LifecycleHandler{Sleep: &cluster.SleepAction{Seconds: 5}},
			},
			LivenessProbe: &cluster.Probe{GRPC: &cluster.GRPCAction{Port: 9090}},
		}}},
		NodeName: "node-b",
		Status: cluster.PodStatus{
			Phase: cluster.PodRunning, PodIP: "10.88.2.31", HostIP: "10.0.0.12", StartedAt: now.Add(-5 * time.Minute),
			Containers: []cluster.ContainerStatus{{
				Name: "api", State: cluster.ContainerWaiting, Reason: "CrashLoopBackOff",
				Message:      "back-off 40s restarting failed container",
				RestartCount: 3, LastTermination: "FailedPostStartHook", LastExitCode: 143, LastMessage: msg,
				Image: "registry.local:5000/api:3",
			}},
		},
		CreatedAt: now.Add(-5 * time.Minute),
	}
}

func TestDescribeNodeFeaturesGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		pod    *cluster.Pod
	}{
		{"describe-pod-evicted", podEvicted(goldenNow)},
		{"describe-pod-poststart-failed", podPostStartFailed(goldenNow)},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := describePod(&b, tc.pod); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
}
