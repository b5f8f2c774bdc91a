package integration

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// hookPods exercise lifecycle hooks on real containers:
//   - hooks: its postStart writes /tmp/poststart, which the main process
//     waits for and answers in /tmp/seen; its preStop removes the marker
//     that fails the liveness probe and records that it ran in the
//     emptyDir, which outlives the restart it leads to;
//   - slowstop: its preStop sleeps 3 s, which delays its deletion though
//     its process would stop at once;
//   - badhook: its postStart fails.
const hookPods = `
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{name: shared, emptyDir: {}}]
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "while [ ! -f /tmp/poststart ]; do sleep 0.1; done; cat /tmp/poststart > /tmp/seen; ` + idle + `"]
      volumeMounts: [{name: shared, mountPath: /shared}]
      livenessProbe:
        exec: {command: ["sh", "-c", "test ! -f /shared/unhealthy"]}
        periodSeconds: 1
        failureThreshold: 1
      lifecycle:
        postStart:
          exec: {command: ["sh", "-c", "echo written-by-poststart > /tmp/poststart"]}
        preStop:
          exec: {command: ["sh", "-c", "rm -f /shared/unhealthy; echo ran >> /shared/prestop"]}
---
apiVersion: v1
kind: Pod
metadata: {name: slowstop}
spec:
  terminationGracePeriodSeconds: 20
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
      lifecycle:
        preStop: {sleep: {seconds: 3}}
---
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
      lifecycle:
        postStart:
          exec: {command: ["sh", "-c", "echo no-warm-up >&2; exit 3"]}
`

// TestLifecycleHooks: postStart runs before the container is Running and
// what it writes is there for the main process; preStop runs before a
// liveness restart and before a deletion's SIGTERM; a failing postStart
// restarts the container and describe says why.
func TestLifecycleHooks(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, manifest(hookPods, image))
	a.WaitPods(t, 2, func(p corev1.Pod) bool { return p.Name == "hooks" || p.Name == "slowstop" })

	t.Run("postStart", func(t *testing.T) {
		out, code := a.Exec(t, "hooks", "app", "cat", "/tmp/seen")
		if code != 0 || strings.TrimSpace(out) != "written-by-poststart" {
			t.Errorf("/tmp/seen (the main process's copy of what postStart wrote): exit %d, %q", code, out)
		}
	})

	t.Run("preStop before a liveness restart", func(t *testing.T) {
		if out, code := a.Exec(t, "hooks", "app", "touch", "/shared/unhealthy"); code != 0 {
			t.Fatalf("touch /shared/unhealthy: exit %d: %s", code, out)
		}
		poll.Until(t, PodTimeout, "hooks restarted and ready", func() (bool, string) {
			p, _ := a.Pod(t, "hooks")
			cs, _ := Container(p, "app")
			return cs.RestartCount == 1 && IsReady(p), Summary([]corev1.Pod{p})
		})
		out, code := a.Exec(t, "hooks", "app", "cat", "/shared/prestop")
		if code != 0 || strings.TrimSpace(out) != "ran" {
			t.Errorf("/shared/prestop after the restart: exit %d, %q; want the hook's one line", code, out)
		}
		// The new run got its own postStart.
		if out, _ := a.Exec(t, "hooks", "app", "cat", "/tmp/seen"); strings.TrimSpace(out) != "written-by-poststart" {
			t.Errorf("/tmp/seen after the restart: %q", out)
		}
	})

	t.Run("preStop delays deletion", func(t *testing.T) {
		begin := time.Now()
		a.Shoal(t, "delete", "pod", "slowstop")
		poll.Until(t, PodTimeout, "slowstop gone", func() (bool, string) {
			_, ok := a.Pod(t, "slowstop")
			return !ok, "slowstop still listed"
		})
		// Without its hook the process stops at once on SIGTERM; with it,
		// SIGTERM comes after 3 s, far from the 20 s grace period.
		if d := time.Since(begin); d < 3*time.Second || d > 15*time.Second {
			t.Errorf("deletion took %v, want the 3s of the preStop sleep and not the 20s grace period", d.Round(time.Millisecond))
		}
	})

	t.Run("failing postStart", func(t *testing.T) {
		var d string
		poll.Until(t, PodTimeout, "describe to show the failed hook", func() (bool, string) {
			d = a.Describe(t, "pod", "badhook")
			return strings.Contains(d, "FailedPostStartHook") && strings.Contains(d, "exited with 3"), d
		})
		p, _ := a.Pod(t, "badhook")
		if cs, _ := Container(p, "app"); IsReady(p) || cs.LastTerminationState.Terminated == nil ||
			cs.LastTerminationState.Terminated.Reason != "FailedPostStartHook" {
			t.Errorf("badhook: ready %t, last state %+v; want not ready, FailedPostStartHook", IsReady(p), cs.LastTerminationState)
		}
	})
}

// storagePods exercise ephemeral-storage: a Deployment and a bare pod
// that each write 40 MB to their root filesystem under a 20Mi limit, a
// pod that writes 10 MB to an emptyDir limited to 5Mi, one well within
// its limit, and one asking for more than the node has.
const storagePods = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: filler}
spec:
  replicas: 1
  selector: {matchLabels: {app: filler}}
  template:
    metadata: {labels: {app: filler}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: fill
          image: IMAGE
          command: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null; ` + idle + `"]
          resources:
            limits: {ephemeral-storage: 20Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: fill
      image: IMAGE
      command: ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=40 2>/dev/null; ` + idle + `"]
      resources:
        requests: {ephemeral-storage: 10Mi}
        limits: {ephemeral-storage: 20Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: scratch}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: tmp, emptyDir: {sizeLimit: 5Mi}}]
  containers:
    - name: fill
      image: IMAGE
      command: ["sh", "-c", "dd if=/dev/zero of=/tmp/x/big bs=1M count=10 2>/dev/null; ` + idle + `"]
      volumeMounts: [{name: tmp, mountPath: /tmp/x}]
---
apiVersion: v1
kind: Pod
metadata: {name: modest}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "dd if=/dev/zero of=/small bs=1M count=2 2>/dev/null; ` + idle + `"]
      resources:
        limits: {ephemeral-storage: 20Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: greedy}
spec:
  containers:
    - name: app
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
      resources:
        requests: {ephemeral-storage: 100Ti}
`

// TestEphemeralStorage: the node offers the size of its data dir's
// filesystem; a pod asking for more stays Pending; pods over their
// ephemeral-storage limits or an emptyDir's sizeLimit are evicted, as the
// kubelet does, and a Deployment replaces its evicted pod.
func TestEphemeralStorage(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{Args: []string{"--eviction-interval", "1s"}})

	t.Run("capacity", func(t *testing.T) {
		var st unix.Statfs_t
		if err := unix.Statfs(a.Opts.DataDir, &st); err != nil {
			t.Fatal(err)
		}
		var nodes struct{ Items []corev1.Node }
		a.ShoalJSON(t, &nodes, "get", "nodes")
		if len(nodes.Items) != 1 {
			t.Fatalf("%d nodes", len(nodes.Items))
		}
		got := nodes.Items[0].Status.Allocatable[corev1.ResourceEphemeralStorage]
		if want := int64(st.Blocks) * st.Bsize; got.Value() != want {
			t.Errorf("allocatable ephemeral-storage %s (%d), want the data dir's filesystem, %d bytes", got.String(), got.Value(), want)
		}
	})

	a.Apply(t, manifest(storagePods, image))
	var first string
	poll.Until(t, PodTimeout, "filler's first pod", func() (bool, string) {
		pods := Select(a.Pods(t), Labeled("app", "filler"))
		if len(pods) > 0 {
			first = pods[0].Name
		}
		return first != "", Summary(pods)
	})

	t.Run("insufficient", func(t *testing.T) {
		want := regexp.MustCompile(`0/1 nodes are available: 1 insufficient ephemeral-storage`)
		poll.Until(t, PodTimeout, "greedy's reason", func() (bool, string) {
			d := a.Describe(t, "pod", "greedy")
			return want.MatchString(d), d
		})
	})

	t.Run("pod over its limit", func(t *testing.T) {
		msg := "Pod ephemeral local storage usage exceeds the total limit of containers 20Mi."
		poll.Until(t, PodTimeout, "hog evicted", func() (bool, string) {
			p, _ := a.Pod(t, "hog")
			return p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted" && p.Status.Message == msg,
				fmt.Sprintf("hog: %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
		})
		d := a.Describe(t, "pod", "hog")
		for _, want := range []string{`Status:\s+Evicted`, regexp.QuoteMeta(msg), `Limits:\s+ephemeral-storage=20Mi`, `Requests:\s+ephemeral-storage=10Mi`} {
			if !regexp.MustCompile(want).MatchString(d) {
				t.Errorf("describe pod hog lacks %q:\n%s", want, d)
			}
		}
		if y := a.Shoal(t, "get", "pod", "hog", "-o", "yaml"); !strings.Contains(y, "ephemeral-storage: 20Mi") {
			t.Errorf("get pod hog -o yaml lacks the limit:\n%s", y)
		}
		if out := a.Shoal(t, "get", "pods"); !regexp.MustCompile(`(?m)^hog\s+0/1\s+Evicted`).MatchString(out) {
			t.Errorf("get pods does not show hog Evicted:\n%s", out)
		}
	})

	t.Run("emptyDir over its sizeLimit", func(t *testing.T) {
		poll.Until(t, PodTimeout, "scratch evicted", func() (bool, string) {
			p, _ := a.Pod(t, "scratch")
			return p.Status.Reason == "Evicted" && p.Status.Message == `Usage of EmptyDir volume "tmp" exceeds the limit "5Mi".`,
				fmt.Sprintf("scratch: %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
		})
	})

	t.Run("Deployment pod evicted and replaced", func(t *testing.T) {
		poll.Until(t, PodTimeout, first+" evicted and replaced", func() (bool, string) {
			log, _ := os.ReadFile(a.Log)
			evicted := regexp.MustCompile(`msg="evicting pod" .*pod=default/` + first +
				` why="Pod ephemeral local storage usage exceeds the total limit of containers 20Mi."`).Match(log)
			pods := Select(a.Pods(t), Labeled("app", "filler"))
			replaced := len(pods) > 0 && !strings.Contains(Summary(pods), first+" ")
			return evicted && replaced, fmt.Sprintf("evicted (agent log) %t; filler pods: %s", evicted, Summary(pods))
		})
	})

	t.Run("within its limit", func(t *testing.T) {
		p, _ := a.Pod(t, "modest")
		if p.Status.Phase != corev1.PodRunning || !IsReady(p) || Restarts(p) != 0 {
			t.Errorf("modest (2 MB under a 20Mi limit): %s", Summary([]corev1.Pod{p}))
		}
	})
}
