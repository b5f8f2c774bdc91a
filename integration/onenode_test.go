package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// One-node tests: one agent, real containerd, the real
// binary, driven through the CLI only. Each test starts its own registry
// and agent, so a failure leaves nothing behind for the next one.

// idle is a container command that stops at once on SIGTERM (a shell as
// PID 1 ignores signals it has no trap for, which would make every stop
// wait out the grace period) and sleeps in the background so the trap runs
// without delay.
const idle = `trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done`

// manifest substitutes the test image into a manifest template.
func manifest(tmpl, image string) string {
	return strings.ReplaceAll(tmpl, "IMAGE", image)
}

func startOne(t *testing.T) (*Agent, string) {
	t.Helper()
	image := Image(t)
	return StartAgent(t, Options{}), image
}

const webDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      volumes:
        - name: shared
          emptyDir: {}
      containers:
        - name: web
          image: IMAGE
          command: ["sh", "-c"]
          args:
            - |
              trap 'exit 143' TERM
              mkdir -p /www
              echo hello-from-web > /www/index.html
              echo "written by web in $(hostname)" > /shared/note
              httpd -p 8080 -h /www
              while true; do sleep 1 & wait $!; done
          ports:
            - containerPort: 8080
          volumeMounts:
            - {name: shared, mountPath: /shared}
        - name: sidecar
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          volumeMounts:
            - {name: shared, mountPath: /shared}
`

// TestDeploymentWithSidecar: a Deployment of 3 two-container pods runs;
// the containers of a pod share localhost and an emptyDir; a killed
// container restarts in place; a deleted pod is replaced under a new name;
// scaling 3 → 5 → 1 converges.
func TestDeploymentWithSidecar(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(webDeployment, image))
	web := Labeled("app", "web")
	pods := a.WaitPods(t, 3, web)

	t.Run("shared localhost and emptyDir", func(t *testing.T) {
		for _, p := range pods {
			out, code := a.Exec(t, p.Name, "sidecar", "wget", "-qO-", "http://localhost:8080/")
			if code != 0 || !strings.Contains(out, "hello-from-web") {
				t.Errorf("%s: sidecar wget localhost:8080: exit %d, %q; want the web container's page", p.Name, code, out)
			}
			out, code = a.Exec(t, p.Name, "sidecar", "cat", "/shared/note")
			if want := "written by web in " + p.Name; code != 0 || !strings.Contains(out, want) {
				t.Errorf("%s: sidecar cat /shared/note: exit %d, %q; want %q", p.Name, code, out, want)
			}
		}
	})

	t.Run("killed container restarts", func(t *testing.T) {
		victim := pods[0].Name
		// The web container's shell exits on SIGTERM (its trap): the
		// container dies, not the pod.
		a.Exec(t, victim, "web", "kill", "1")
		poll.Until(t, PodTimeout, victim+"'s web container to restart", func() (bool, string) {
			p, ok := a.Pod(t, victim)
			if !ok {
				return false, victim + " is gone; a container restart must keep the pod"
			}
			cs, _ := Container(p, "web")
			if cs.RestartCount < 1 || p.Status.Phase != corev1.PodRunning || !IsReady(p) {
				return false, fmt.Sprintf("%s: web restartCount %d, %s", victim, cs.RestartCount, Summary([]corev1.Pod{p}))
			}
			return true, ""
		})
		// It came back as a working web server.
		out, code := a.Exec(t, victim, "sidecar", "wget", "-qO-", "http://localhost:8080/")
		if code != 0 || !strings.Contains(out, "hello-from-web") {
			t.Errorf("after restart: wget localhost:8080: exit %d, %q", code, out)
		}
	})

	t.Run("deleted pod is replaced under a new name", func(t *testing.T) {
		before := a.WaitPods(t, 3, web)
		victim := before[len(before)-1].Name
		a.Shoal(t, "delete", "pod", victim)
		poll.Until(t, PodTimeout, "a replacement for "+victim, func() (bool, string) {
			all := Select(a.Pods(t), web)
			if slices.Contains(Names(all), victim) {
				return false, victim + " still listed: " + Summary(all)
			}
			running := Select(all, func(p corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && IsReady(p) })
			if len(all) != 3 || len(running) != 3 {
				return false, "want 3 Running pods: " + Summary(all)
			}
			return true, ""
		})
	})

	t.Run("scale 3 to 5 to 1", func(t *testing.T) {
		a.Shoal(t, "scale", "deployment/web", "--replicas", "5")
		a.WaitPods(t, 5, web)
		a.Shoal(t, "scale", "deployment/web", "--replicas", "1")
		a.WaitPods(t, 1, web)
	})
}

const limitPods = `
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: hog
      image: IMAGE
      # Doubles a string until the 32Mi limit: PID 1 itself is the hog, so
      # the OOM killer ends the container, not a child of it.
      command: ["sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"]
      resources:
        limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: capped
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
      resources:
        requests: {cpu: 100m, memory: 16Mi}
        limits: {cpu: 250m, memory: 64Mi}
`

// TestLimits: a container over its 32Mi memory limit is OOM-killed and
// describe says so; a 250m CPU limit is a 25000/100000 CFS quota in the
// container's cgroup.
func TestLimits(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(limitPods, image))

	t.Run("OOMKilled", func(t *testing.T) {
		poll.Until(t, PodTimeout, "hog to be OOMKilled", func() (bool, string) {
			p, ok := a.Pod(t, "hog")
			if !ok {
				return false, "pod hog not listed"
			}
			cs, _ := Container(p, "hog")
			for _, st := range []corev1.ContainerState{cs.State, cs.LastTerminationState} {
				if st.Terminated != nil && st.Terminated.Reason == "OOMKilled" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("hog not OOMKilled yet: phase %s, state %+v, last %+v", p.Status.Phase, cs.State, cs.LastTerminationState)
		})
		if d := a.Describe(t, "pod", "hog"); !strings.Contains(d, "OOMKilled") {
			t.Errorf("describe pod hog does not say OOMKilled:\n%s", d)
		}
	})

	t.Run("CPU limit in the cgroup", func(t *testing.T) {
		a.WaitPods(t, 1, Named("capped"))
		quota := cpuQuota(t, a, "capped", "main")
		if quota != "25000 100000" {
			t.Errorf("cpu quota of capped/main = %q, want \"25000 100000\" (250m)", quota)
		}
	})
}

// cpuQuota returns a container's CFS quota and period as "quota period",
// from cgroup v2's cpu.max or v1's cpu.cfs_quota_us and cpu.cfs_period_us.
// It reads them inside the container (where the runtime mounts the
// container's own cgroup at /sys/fs/cgroup) and falls back to the host's
// view of the cgroup the container reports in /proc/1/cgroup.
func cpuQuota(t *testing.T, a *Agent, pod, container string) string {
	t.Helper()
	out, code := a.Exec(t, pod, container, "sh", "-c",
		"cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us)")
	if code == 0 && strings.TrimSpace(out) != "" {
		return strings.TrimSpace(out)
	}
	cg, code := a.Exec(t, pod, container, "cat", "/proc/1/cgroup")
	if code != 0 {
		t.Fatalf("cat /proc/1/cgroup in %s/%s: exit %d: %s", pod, container, code, cg)
	}
	for _, line := range strings.Split(strings.TrimSpace(cg), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], "cpu.max")); err == nil {
				return strings.TrimSpace(string(b))
			}
		case slices.Contains(strings.Split(parts[1], ","), "cpu"):
			dir := filepath.Join("/sys/fs/cgroup/cpu", parts[2])
			q, err1 := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
			p, err2 := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
			if err1 == nil && err2 == nil {
				return strings.TrimSpace(string(q)) + " " + strings.TrimSpace(string(p))
			}
		}
	}
	t.Fatalf("no CPU quota found for %s/%s (in the container: %q; /proc/1/cgroup: %q)", pod, container, out, cg)
	return ""
}

// dbStatefulSet is a headless Service and a StatefulSet of 2 whose pods
// each get their own claim volume at /data.
var dbStatefulSet = `
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector: {app: db}
  ports:
    - {name: db, port: 5432}
---` + dbWithData(2, "10Mi")

// TestStatefulSetVolumes: db-0 and db-1 each get their own volume, and what
// db-0 wrote is there again after db-0 is deleted and comes back.
func TestStatefulSetVolumes(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(dbStatefulSet, image))
	pods := a.WaitPods(t, 2, Labeled("app", "db"))
	if names := Names(pods); !slices.Contains(names, "db-0") || !slices.Contains(names, "db-1") {
		t.Fatalf("StatefulSet pods are %v, want db-0 and db-1", names)
	}

	for _, name := range []string{"db-0", "db-1"} {
		if out, code := a.Exec(t, name, "", "sh", "-c", "echo precious-$(hostname) > /data/file"); code != 0 {
			t.Fatalf("%s: write /data/file: exit %d: %s", name, code, out)
		}
	}
	// Each ordinal has its own volume: db-1 sees its own file, not db-0's.
	if out, _ := a.Exec(t, "db-1", "", "cat", "/data/file"); strings.TrimSpace(out) != "precious-db-1" {
		t.Errorf("db-1's /data/file = %q, want precious-db-1 (its own volume)", out)
	}

	old, _ := a.Pod(t, "db-0")
	a.Shoal(t, "delete", "pod", "db-0")
	poll.Until(t, PodTimeout, "db-0 to come back", func() (bool, string) {
		p, ok := a.Pod(t, "db-0")
		switch {
		case !ok:
			return false, "db-0 not listed yet"
		case p.UID == old.UID:
			return false, "db-0 still the old pod (uid " + string(p.UID) + ")"
		case p.Status.Phase != corev1.PodRunning || !IsReady(p):
			return false, "new db-0: " + Summary([]corev1.Pod{p})
		}
		return true, ""
	})
	if out, code := a.Exec(t, "db-0", "", "cat", "/data/file"); code != 0 || strings.TrimSpace(out) != "precious-db-0" {
		t.Errorf("after delete and return, db-0's /data/file: exit %d, %q; want precious-db-0", code, out)
	}
}

const hugePod = `
apiVersion: v1
kind: Pod
metadata:
  name: huge
spec:
  containers:
    - name: main
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
      resources:
        requests: {cpu: "10000"}
`

// TestUnschedulablePending: a pod larger than the node stays Pending and
// describe says why, in the scheduler's words.
func TestUnschedulablePending(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(hugePod, image))
	reason := regexp.MustCompile(`(?i)0/1 nodes.*insufficient cpu`)
	var d string
	poll.Until(t, PodTimeout, "the reason huge is pending", func() (bool, string) {
		d = a.Describe(t, "pod", "huge")
		return reason.MatchString(d), "describe pod huge does not give the reason yet:\n" + d
	})
	p, ok := a.Pod(t, "huge")
	if !ok || p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Errorf("huge: phase %q on node %q, want Pending and unplaced", p.Status.Phase, p.Spec.NodeName)
	}
}

// TestAgentKill9 kills the agent with SIGKILL and starts it again: the
// same pods (names and UIDs), none lost or duplicated, still running the
// same containers (adopted, not restarted), and the workloads intact.
func TestAgentKill9(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(webDeployment, image)+"\n---\n"+manifest(dbStatefulSet, image))
	before := a.WaitPods(t, 5, nil)
	uids := map[string]string{}
	for _, p := range before {
		uids[p.Name] = string(p.UID)
	}
	restarts := map[string]int32{}
	for _, p := range before {
		restarts[p.Name] = Restarts(p)
	}
	workloads := func() string {
		return a.Shoal(t, "get", "deployments") + a.Shoal(t, "get", "statefulsets") + a.Shoal(t, "get", "services")
	}
	wlBefore := names(t, a, "deployments", "statefulsets", "services")

	pid := a.PID()
	a.Kill9()
	a.Restart()
	t.Logf("agent pid %d killed with SIGKILL, restarted as %d", pid, a.PID())

	after := a.WaitPods(t, 5, nil)
	seen := map[string]bool{}
	for _, p := range after {
		if seen[p.Name] {
			t.Errorf("pod %s listed twice after the restart", p.Name)
		}
		seen[p.Name] = true
		uid, ok := uids[p.Name]
		switch {
		case !ok:
			t.Errorf("pod %s is new after the restart; want the same pods: before %v", p.Name, Names(before))
		case uid != string(p.UID):
			t.Errorf("pod %s has uid %s after the restart, was %s", p.Name, p.UID, uid)
		case Restarts(p) != restarts[p.Name]:
			t.Errorf("pod %s: restarts %d → %d; the restarted agent must adopt running containers, not restart them", p.Name, restarts[p.Name], Restarts(p))
		}
	}
	// What containerd runs: one task per container (3 web pods of two
	// containers, 2 db pods of one), not a second set started beside the
	// adopted one.
	if n, ok := a.RunningTasks(t, "shoal"); !ok {
		t.Logf("no containerd socket found under %s; containerd-side check skipped", a.Opts.DataDir)
	} else if n != 8 {
		t.Errorf("containerd runs %d tasks after the restart, want 8 (3×2 web + 2 db)", n)
	}
	if wlAfter := names(t, a, "deployments", "statefulsets", "services"); !slices.Equal(wlBefore, wlAfter) {
		t.Errorf("objects before the restart %v, after %v\n%s", wlBefore, wlAfter, workloads())
	}
}

// names lists "kind/name" of every object of the given kinds, sorted.
func names(t *testing.T, a *Agent, kinds ...string) []string {
	t.Helper()
	var out []string
	for _, kind := range kinds {
		var l struct {
			Items []struct{ Metadata struct{ Name string } }
		}
		a.ShoalJSON(t, &l, "get", kind)
		for _, it := range l.Items {
			out = append(out, kind+"/"+it.Metadata.Name)
		}
	}
	slices.Sort(out)
	return out
}

const steadyPod = `
apiVersion: v1
kind: Pod
metadata:
  name: steady
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "echo started >> /tmp/starts; ` + idle + `"]
      readinessProbe:
        exec: {command: ["true"]}
        periodSeconds: 1
        failureThreshold: 1
      livenessProbe:
        exec: {command: ["true"]}
        periodSeconds: 1
        failureThreshold: 2
`

// TestContainerdKill9: the containerd the agent supervises is killed with
// SIGKILL while a pod runs. The node goes NotReady, the agent restarts
// containerd, the node is Ready again, and the pod is the same one, never
// restarted (its shim outlived containerd), answering exec through the new
// containerd.
func TestContainerdKill9(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(steadyPod, image))
	before := a.WaitPods(t, 1, nil)[0]
	nodeStatus := func() string {
		for _, line := range strings.Split(a.Shoal(t, "get", "nodes"), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == a.Opts.Name {
				return f[1]
			}
		}
		return ""
	}
	poll.Until(t, time.Minute, "node Ready", func() (bool, string) { s := nodeStatus(); return s == "Ready", s })

	old := a.ContainerdPID()
	if old == 0 {
		t.Fatalf("no containerd child of agent pid %d", a.PID())
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	poll.Until(t, 30*time.Second, "node NotReady while containerd is down", func() (bool, string) {
		s := nodeStatus()
		return s == "NotReady", s
	})
	notReadyAfter := time.Since(killed)
	poll.Until(t, time.Minute, "node Ready again", func() (bool, string) {
		s := nodeStatus()
		return s == "Ready", s
	})
	readyAfter := time.Since(killed)
	t.Logf("containerd pid %d killed → node NotReady seen after %s → Ready again after %s (new containerd pid %d)",
		old, notReadyAfter.Round(time.Millisecond), readyAfter.Round(time.Millisecond), a.ContainerdPID())
	if now := a.ContainerdPID(); now == 0 || now == old {
		t.Errorf("containerd pid %d after the restart, was %d", now, old)
	}
	if !a.Running() {
		t.Fatalf("the agent exited; its log:\n%s", tail(a.Log, 40))
	}

	after := a.WaitPods(t, 1, nil)[0]
	if after.UID != before.UID {
		t.Errorf("pod uid %s after containerd's restart, was %s", after.UID, before.UID)
	}
	if Restarts(after) != Restarts(before) {
		t.Errorf("pod restarts %d → %d across containerd's restart", Restarts(before), Restarts(after))
	}
	out, code := a.Exec(t, "steady", "", "cat", "/tmp/starts")
	if code != 0 || strings.Count(out, "started") != 1 {
		t.Errorf("exec after the restart: %d %q; want one start", code, out)
	}
	if n, ok := a.RunningTasks(t, "shoal"); ok && n != 1 {
		t.Errorf("containerd runs %d tasks after the restart, want 1", n)
	}
}
