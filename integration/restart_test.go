package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/internal/poll"
)

const crashingPod = `apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: log, emptyDir: {}}]
  containers:
  - name: c
    image: IMAGE
    volumeMounts: [{name: log, mountPath: /log}]
    command: ["sh", "-c", "read up _ </proc/uptime; echo start $up >>/log/times; sleep 1; read up _ </proc/uptime; echo exit $up >>/log/times; exit 1"]
  - name: reader
    image: IMAGE
    volumeMounts: [{name: log, mountPath: /log}]
    command: ["sh", "-c", "` + idle + `"]
`

// TestCrashRestartLatency: a crashed container of a restartPolicy: Always
// pod runs again at once the first time (Kubernetes backs off only from
// the second crash). The container itself logs when it starts and exits,
// on the host-wide /proc/uptime clock, so the figure is the real gap.
func TestCrashRestartLatency(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(crashingPod, image))
	var times string
	poll.Until(t, PodTimeout, "two starts of the crashing container", func() (bool, string) {
		out, _ := a.Exec(t, "crasher", "reader", "cat", "/log/times")
		times = out
		return strings.Count(out, "start ") >= 2, out
	})
	var exit1, start2 float64
	for line := range strings.Lines(times) {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch {
		case f[0] == "exit" && exit1 == 0:
			exit1 = v
		case f[0] == "start" && exit1 != 0 && start2 == 0:
			start2 = v
		}
	}
	if exit1 == 0 || start2 == 0 {
		t.Fatalf("times: %s", times)
	}
	gap := time.Duration((start2 - exit1) * float64(time.Second))
	t.Logf("first crash → running again: %v (container-side, /proc/uptime, 10 ms resolution)", gap)
	// Not a timing assertion on a noisy machine: only that there was no
	// back-off (Kubernetes' first back-off would be 10 s).
	if gap > 5*time.Second {
		t.Errorf("the first restart waited %v: a back-off was applied to the first crash", gap)
	}
}
