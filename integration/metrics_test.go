package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/runtime"
)

const topPods = `
apiVersion: v1
kind: Pod
metadata: {name: burn}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: burn
      image: IMAGE
      command: ["sh", "-c", "while :; do :; done"]
      resources:
        limits: {cpu: 500m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hold}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
    - name: mem
      emptyDir: {medium: Memory}
  containers:
    - name: hold
      image: IMAGE
      command: ["sh", "-c", "dd if=/dev/zero of=/mem/blob bs=1M count=64 && ` + idle + `"]
      resources:
        limits: {cpu: 100m, memory: 256Mi}
      volumeMounts:
        - {name: mem, mountPath: /mem}
`

// TestTop: a pod burning CPU under a 500m limit shows about 500m in
// `shoal top pods`, and a pod holding 64 MiB in a tmpfs emptyDir shows
// the working set its cgroup counts, read here from the cgroup files.
func TestTop(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{Args: []string{"--metrics-interval", "2s"}})
	a.Apply(t, manifest(topPods, image))
	a.WaitPods(t, 2, func(p corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	// The burner's rate over one 2 s interval: the CFS quota holds it at
	// 50 ms per 100 ms period, so 500m within a few periods' error.
	var burn, hold topLine
	poll.Until(t, PodTimeout, "top pods to show burn near 500m and hold's 64 MiB", func() (bool, string) {
		res := a.Run("top", "pods")
		if res.Code != 0 {
			return false, res.Err()
		}
		lines := parseTop(res.Stdout)
		burn, hold = lines["burn"], lines["hold"]
		if burn.milli < 400 || burn.milli > 550 || hold.mib < 64 {
			return false, res.Stdout
		}
		return true, ""
	})
	t.Logf("top pods: burn %dm %dMi, hold %dm %dMi", burn.milli, burn.mib, hold.milli, hold.mib)

	// hold's working set: what top says and the cgroup counter read
	// directly agree within what changes between two samples (the shell
	// and sleep come and go: a few hundred KiB).
	p, ok := a.Pod(t, "hold")
	if !ok {
		t.Fatal("pod hold not found")
	}
	direct := workingSetMiB(t, "/"+cluster.DefaultContainerdNamespace+"/"+runtime.ContainerID(string(p.UID), "hold"))
	if d := direct - hold.mib; d < -2 || d > 2 {
		t.Errorf("hold: top says %d MiB, its cgroup %d MiB", hold.mib, direct)
	}
	t.Logf("hold: top %d MiB, cgroup read directly %d MiB", hold.mib, direct)

	out := a.Shoal(t, "top", "pods", "--containers")
	if !strings.Contains(out, "POD") || !strings.Contains(out, "burn") {
		t.Errorf("top pods --containers:\n%s", out)
	}
	out = a.Shoal(t, "top", "nodes")
	if f := strings.Fields(lastLine(out)); len(f) != 5 || !strings.HasSuffix(f[1], "m") || !strings.HasSuffix(f[3], "Mi") || !strings.HasSuffix(f[4], "%") {
		t.Errorf("top nodes:\n%s", out)
	}
}

type topLine struct{ milli, mib int64 }

// parseTop reads `top pods`' NAME CPU(cores) MEMORY(bytes) lines.
func parseTop(out string) map[string]topLine {
	lines := map[string]topLine{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		m, _ := strconv.ParseInt(strings.TrimSuffix(f[1], "m"), 10, 64)
		mi, _ := strconv.ParseInt(strings.TrimSuffix(f[2], "Mi"), 10, 64)
		lines[f[0]] = topLine{m, mi}
	}
	return lines
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

// workingSetMiB reads a cgroup's usage minus its inactive file pages
// from the cgroup files (v2, else v1's memory hierarchy).
func workingSetMiB(t *testing.T, path string) int64 {
	t.Helper()
	usageFile, statFile, key := "/sys/fs/cgroup"+path+"/memory.current", "/sys/fs/cgroup"+path+"/memory.stat", "inactive_file"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		dir := filepath.Join("/sys/fs/cgroup/memory", path)
		usageFile, statFile, key = dir+"/memory.usage_in_bytes", dir+"/memory.stat", "total_inactive_file"
	}
	b, err := os.ReadFile(usageFile)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(statFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(stat), "\n") {
		var k string
		var v int64
		if n, _ := fmt.Sscan(l, &k, &v); n == 2 && k == key {
			return (usage - v) >> 20
		}
	}
	t.Fatalf("%s: no %s", statFile, key)
	return 0
}
