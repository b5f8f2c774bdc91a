package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"shoal/internal/poll"
)

// resizeDeployment: app takes a resize in place (the default policy),
// side restarts for a memory change (resizePolicy RestartContainer).
const resizeDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: rz}
spec:
  replicas: 1
  selector: {matchLabels: {app: rz}}
  template:
    metadata: {labels: {app: rz}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          resources:
            requests: {cpu: 100m, memory: 32Mi}
            limits: {cpu: 200m, memory: 64Mi}
        - name: side
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          resources:
            limits: {cpu: 200m, memory: 64Mi}
          resizePolicy:
            - {resourceName: cpu, restartPolicy: NotRequired}
            - {resourceName: memory, restartPolicy: RestartContainer}
`

// TestInPlaceResize: `set resources` on a Deployment changes the running
// containers' cgroups without replacing the pod: the same pod and
// container, restart count unchanged, except for the container whose
// resizePolicy restarts it; a resize larger than the node stays pending
// (Infeasible) while the pod runs on with its old limits; the time from
// `set resources` to the changed cgroup is measured.
func TestInPlaceResize(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(resizeDeployment, image))
	pod := a.WaitPods(t, 1, Labeled("app", "rz"))[0]
	before := map[string]corev1.ContainerStatus{}
	for _, cs := range pod.Status.ContainerStatuses {
		before[cs.Name] = cs
	}
	if got := cgroupLimits(t, a, pod.Name, "app"); got != (limits{cpu: 20000, mem: 64 << 20}) {
		t.Fatalf("app's cgroup before: %+v", got)
	}

	a.Shoal(t, "set", "resources", "deployment/rz", "--limits", "cpu=300m,memory=96Mi")
	var after corev1.Pod
	poll.Until(t, PodTimeout, "both containers resized", func() (bool, string) {
		p, ok := a.Pod(t, pod.Name)
		after = p
		app, _ := Container(p, "app")
		side, _ := Container(p, "side")
		return ok && IsReady(p) && limitsOf(app) == "300m/96Mi" && limitsOf(side) == "300m/96Mi" && !hasCondition(p, "PodResizeInProgress"),
			Summary([]corev1.Pod{p}) + " app " + limitsOf(app) + " side " + limitsOf(side)
	})
	if pods := Select(a.Pods(t), Labeled("app", "rz")); len(pods) != 1 || pods[0].Name != pod.Name || pods[0].UID != pod.UID {
		t.Fatalf("the pod was replaced: %s", Summary(pods))
	}
	for name, wantRestarts := range map[string]int32{"app": 0, "side": 1} {
		cs, _ := Container(after, name)
		if cs.ContainerID != before[name].ContainerID || cs.RestartCount != wantRestarts {
			t.Errorf("%s: container %s restarts %d, want %s and %d", name, cs.ContainerID, cs.RestartCount, before[name].ContainerID, wantRestarts)
		}
	}
	for _, c := range []string{"app", "side"} {
		if got := cgroupLimits(t, a, pod.Name, c); got != (limits{cpu: 30000, mem: 96 << 20}) {
			t.Errorf("%s's cgroup after the resize: %+v, want cpu quota 30000 and memory 96Mi", c, got)
		}
	}
	// Inside the container too, as its processes see it.
	out, _ := a.Exec(t, pod.Name, "app", "sh", "-c",
		"cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	if f := strings.Fields(out); len(f) == 0 || f[0] != "30000" {
		t.Errorf("cpu quota inside app: %q, want 30000", out)
	}
	if h := a.Shoal(t, "rollout", "history", "deployment/rz"); regexp.MustCompile(`(?m)^\s*2\s`).MatchString(h) {
		t.Errorf("a resize made a new revision:\n%s", h)
	}

	t.Run("larger than the node", func(t *testing.T) {
		a.Shoal(t, "set", "resources", "deployment/rz", "-c", "app", "--requests", "cpu=500", "--limits", "cpu=500")
		poll.Until(t, PodTimeout, "PodResizePending", func() (bool, string) {
			y := a.Shoal(t, "get", "pod", pod.Name, "-o", "yaml")
			return strings.Contains(y, "type: PodResizePending") && strings.Contains(y, "reason: Infeasible"), y
		})
		p, _ := a.Pod(t, pod.Name)
		cond := condition(p, "PodResizePending")
		if !strings.Contains(cond.Message, "cpu, requested: 500") {
			t.Errorf("PodResizePending message %q, want the cpu asked for", cond.Message)
		}
		app, _ := Container(p, "app")
		if !IsReady(p) || app.RestartCount != 0 || limitsOf(app) != "300m/96Mi" {
			t.Errorf("pending resize: ready %v restarts %d limits %s; want the pod running with its old limits", IsReady(p), app.RestartCount, limitsOf(app))
		}
		if got := cgroupLimits(t, a, pod.Name, "app"); got.cpu != 30000 {
			t.Errorf("cgroup during a pending resize: %+v", got)
		}
		// Asking for what fits again: admitted, the condition goes.
		a.Shoal(t, "set", "resources", "deployment/rz", "-c", "app", "--requests", "cpu=100m", "--limits", "cpu=400m")
		poll.Until(t, PodTimeout, "resize admitted", func() (bool, string) {
			p, _ := a.Pod(t, pod.Name)
			app, _ := Container(p, "app")
			return !hasCondition(p, "PodResizePending") && limitsOf(app) == "400m/96Mi", limitsOf(app)
		})
	})

	t.Run("apply of resources only", func(t *testing.T) {
		// The original manifest with app's memory limit raised: app is
		// resized in place, side back to its limits (a restart: memory).
		m := strings.Replace(manifest(resizeDeployment, image), "limits: {cpu: 200m, memory: 64Mi}", "limits: {cpu: 200m, memory: 80Mi}", 1)
		a.Apply(t, m)
		poll.Until(t, PodTimeout, "resized by apply", func() (bool, string) {
			p, _ := a.Pod(t, pod.Name)
			app, _ := Container(p, "app")
			side, _ := Container(p, "side")
			return IsReady(p) && limitsOf(app) == "200m/80Mi" && limitsOf(side) == "200m/64Mi", limitsOf(app) + " " + limitsOf(side)
		})
		p, _ := a.Pod(t, pod.Name)
		app, _ := Container(p, "app")
		side, _ := Container(p, "side")
		if app.RestartCount != 0 || side.RestartCount != 2 || p.UID != pod.UID {
			t.Errorf("restarts app %d side %d (want 0 and 2), pod %s", app.RestartCount, side.RestartCount, p.UID)
		}
		if got := cgroupLimits(t, a, pod.Name, "app"); got != (limits{cpu: 20000, mem: 80 << 20}) {
			t.Errorf("app's cgroup after apply: %+v", got)
		}
	})

	t.Run("deferred until a bare pod shrinks", func(t *testing.T) {
		// hog takes all but 50m of the node's cpu: app's growth by 200m is
		// Deferred, until hog (a bare pod) is shrunk in place.
		var nodes struct{ Items []Node }
		a.ShoalJSON(t, &nodes, "get", "nodes")
		alloc := resource.MustParse(nodes.Items[0].Status.Allocatable["cpu"])
		free := alloc.MilliValue()
		for _, p := range a.Pods(t) {
			for _, c := range p.Spec.Containers {
				free -= c.Resources.Requests.Cpu().MilliValue()
			}
		}
		a.Apply(t, manifest(fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "`+idle+`"]
      resources: {limits: {cpu: %dm, memory: 32Mi}}
`, free-50), image))
		hog := a.WaitPods(t, 1, Named("hog"))[0]
		defer a.Shoal(t, "delete", "pod", "hog")
		a.Shoal(t, "set", "resources", "deployment/rz", "-c", "app", "--requests", "cpu=300m", "--limits", "cpu=400m")
		poll.Until(t, PodTimeout, "PodResizePending Deferred", func() (bool, string) {
			p, _ := a.Pod(t, pod.Name)
			c := condition(p, "PodResizePending")
			return c.Reason == "Deferred" && strings.Contains(c.Message, "cpu, requested:"), fmt.Sprintf("%+v", p.Status.Conditions)
		})
		if got := cgroupLimits(t, a, pod.Name, "app"); got.cpu != 20000 {
			t.Errorf("app's cgroup while its resize waits: %+v", got)
		}
		a.Shoal(t, "set", "resources", "pod/hog", "--requests", "cpu=100m", "--limits", "cpu=100m")
		poll.Until(t, PodTimeout, "both resized", func() (bool, string) {
			p, _ := a.Pod(t, pod.Name)
			h, _ := a.Pod(t, "hog")
			app, _ := Container(p, "app")
			hc, _ := Container(h, "app")
			return !hasCondition(p, "PodResizePending") && limitsOf(app) == "400m/80Mi" && limitsOf(hc) == "100m/32Mi",
				limitsOf(app) + " " + limitsOf(hc) + fmt.Sprintf(" %+v", p.Status.Conditions)
		})
		h, _ := a.Pod(t, "hog")
		if hc, _ := Container(h, "app"); h.UID != hog.UID || hc.RestartCount != 0 {
			t.Errorf("hog: uid %s restarts %d; want it resized in place", h.UID, hc.RestartCount)
		}
		if got := cgroupLimits(t, a, "hog", "app"); got.cpu != 10000 {
			t.Errorf("hog's cgroup: %+v, want cpu quota 10000", got)
		}
	})

	t.Run("latency", func(t *testing.T) {
		// set resources → the container's cgroup shows the new quota.
		var took, cli []time.Duration
		cpuFile, memFile := cgroupFiles(t, a, pod.Name, "app")
		for i := range 9 {
			cpu := int64(500 + 100*(i%2))
			begin := time.Now()
			a.Shoal(t, "set", "resources", "deployment/rz", "-c", "app", "--limits", fmt.Sprintf("cpu=%dm", cpu))
			cli = append(cli, time.Since(begin))
			for readLimits(cpuFile, memFile).cpu != cpu*100 {
				if time.Since(begin) > PodTimeout {
					t.Fatalf("cgroup still %+v", readLimits(cpuFile, memFile))
				}
				time.Sleep(time.Millisecond)
			}
			took = append(took, time.Since(begin))
		}
		slices.Sort(took)
		slices.Sort(cli)
		t.Logf("set resources → cgroup changed: median %v (min %v, max %v, %d runs); the CLI itself returned after %v (median)",
			took[len(took)/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), len(took),
			cli[len(cli)/2].Round(time.Millisecond))
	})
}

type limits struct{ cpu, mem int64 }

// cgroupLimits reads a container's CPU quota (per 100ms period) and
// memory limit from its cgroup on the host.
func cgroupLimits(t *testing.T, a *Agent, pod, container string) limits {
	t.Helper()
	cpu, mem := cgroupFiles(t, a, pod, container)
	return readLimits(cpu, mem)
}

func readLimits(cpuFile, memFile string) limits {
	var l limits
	if v := readCgroup(cpuFile); len(v) > 0 {
		fmt.Sscan(v[0], &l.cpu)
	}
	if v := readCgroup(memFile); len(v) > 0 {
		fmt.Sscan(v[0], &l.mem)
	}
	return l
}

// cgroupFiles finds, through its task's process, the files of a
// container's cgroup that hold its CPU quota and memory limit (v2's
// cpu.max and memory.max, or v1's in the cpu and memory hierarchies).
func cgroupFiles(t *testing.T, a *Agent, pod, container string) (cpu, mem string) {
	t.Helper()
	sock := a.ContainerdSocket()
	ids, err := exec.Command("ctr", "--address", sock, "--namespace", "shoal", "containers", "ls", "-q",
		fmt.Sprintf(`labels."io.shoal.pod.name"==%s,labels."io.shoal.container.name"==%s`, pod, container)).Output()
	if err != nil || len(strings.Fields(string(ids))) != 1 {
		t.Fatalf("container %s of %s: %v %q", container, pod, err, ids)
	}
	id := strings.Fields(string(ids))[0]
	tasks, err := exec.Command("ctr", "--address", sock, "--namespace", "shoal", "tasks", "ls").Output()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v", err)
	}
	var pid string
	for _, line := range strings.Split(string(tasks), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == id {
			pid = f[1]
		}
	}
	cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatalf("cgroup of %s (pid %q): %v", id, pid, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch ctrls := strings.Split(f[1], ","); {
		case f[1] == "": // v2, or the unified hierarchy of a hybrid host (no cpu.max there)
			if v2 := filepath.Join("/sys/fs/cgroup", f[2], "cpu.max"); len(readCgroup(v2)) > 0 {
				return v2, filepath.Join("/sys/fs/cgroup", f[2], "memory.max")
			}
		case slices.Contains(ctrls, "cpu"):
			cpu = filepath.Join("/sys/fs/cgroup", f[1], f[2], "cpu.cfs_quota_us")
		case slices.Contains(ctrls, "memory"):
			mem = filepath.Join("/sys/fs/cgroup", f[1], f[2], "memory.limit_in_bytes")
		}
	}
	return cpu, mem
}

func readCgroup(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// limitsOf is a container's applied cpu/memory limits as the status shows
// them (status.containerStatuses[].resources).
func limitsOf(cs corev1.ContainerStatus) string {
	if cs.Resources == nil {
		return "none"
	}
	return cs.Resources.Limits.Cpu().String() + "/" + cs.Resources.Limits.Memory().String()
}

func condition(p corev1.Pod, typ corev1.PodConditionType) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.PodCondition{}
}

func hasCondition(p corev1.Pod, typ corev1.PodConditionType) bool {
	return condition(p, typ).Status == corev1.ConditionTrue
}
