package integration

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// hpaLoad is a Deployment whose pods burn CPU (up to their 200m limit,
// twice their 100m request) while the ConfigMap says load=on, and idle
// otherwise: the load starts and stops for every pod at once.
const hpaLoad = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes:
        - {name: load, configMap: {name: load}}
      containers:
        - name: burn
          image: IMAGE
          command: ["sh", "-c", "trap 'exit 0' TERM; while :; do if grep -q on /load/load; then sh -c 'while :; do :; done' & b=$!; sleep 1; kill $b; else sleep 1; fi; done"]
          resources:
            requests: {cpu: 100m, memory: 16Mi}
            limits: {cpu: 200m, memory: 64Mi}
          volumeMounts:
            - {name: load, mountPath: /load}
`

// hpaSpec scales burn from 1 to 3 at 50% cpu; BEHAVIOR is replaced.
const hpaSpec = `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`

// loadSwitch is the ConfigMap the burners read, alone: applying the
// Deployment again would set its replicas back.
func loadSwitch(on bool) string {
	v := "off"
	if on {
		v = "on"
	}
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: load}\ndata: {load: \"" + v + "\"}\n"
}

func burnPods(a *Agent, t *testing.T) []corev1.Pod {
	return Select(a.Pods(t), func(p corev1.Pod) bool { return p.Labels["app"] == "burn" && p.DeletionTimestamp == nil })
}

// TestHPA: the burner under an autoscaler (2 s sync period, a 10 s
// scale-down window) goes out to its maximum of 3 while it burns, and
// back to 1 once the load stops and the window has passed; describe
// shows the decisions.
func TestHPA(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{Args: []string{"--metrics-interval", "1s", "--hpa-sync-period", "2s"}})
	a.Apply(t, loadSwitch(true))
	a.Apply(t, manifest(hpaLoad, image))
	a.WaitPods(t, 1, Labeled("app", "burn"))
	a.Apply(t, hpaSpec+"  behavior: {scaleDown: {stabilizationWindowSeconds: 10}}\n")

	start := time.Now()
	poll.Until(t, 60*time.Second, "the autoscaler to scale burn to 3", func() (bool, string) {
		out := a.Shoal(t, "get", "hpa")
		return strings.Contains(lastLine(out), " 3 "), out
	})
	a.WaitPods(t, 3, Labeled("app", "burn"))
	t.Logf("scaled out to 3 ready pods in %s", time.Since(start).Round(100*time.Millisecond))
	out := a.Shoal(t, "get", "hpa")
	if f := strings.Fields(lastLine(out)); len(f) != 7 || f[1] != "Deployment/burn" || !strings.HasSuffix(f[2], "/50%") || f[3] != "1" || f[4] != "3" {
		t.Errorf("get hpa:\n%s", out)
	}

	a.Apply(t, loadSwitch(false))
	stop := time.Now()
	poll.Until(t, 60*time.Second, "the autoscaler to scale burn back to 1", func() (bool, string) {
		pods := burnPods(a, t)
		return len(pods) == 1, Summary(pods)
	})
	in := time.Since(stop)
	t.Logf("scaled in to 1 pod %s after the load stopped (window 10 s)", in.Round(100*time.Millisecond))
	if in < 10*time.Second {
		t.Errorf("scaled in after %s, within the 10 s stabilization window", in)
	}
	d := a.Describe(t, "hpa", "burn")
	t.Logf("describe hpa burn:\n%s", d)
	for _, want := range []string{"Reference:", "Deployment/burn", "resource cpu on pods  (as a percentage of request)",
		"AbleToScale", "ScalingActive   True", "ScalingLimited", "Decisions:",
		"cpu resource utilization (percentage of request) above target", "All metrics below target"} {
		if !strings.Contains(d, want) {
			t.Errorf("describe hpa lacks %q", want)
		}
	}
}

// TestHPALatency measures, with the default 15 s sync period and 10 s
// metrics interval, the time from the load starting (the ConfigMap
// switched on) to a second pod Ready under the autoscaler made by
// `shoal autoscale`. The load starts just after a sync (the one that
// first reports the idle pod), so this is the sync period's full wait.
func TestHPALatency(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{})
	a.Apply(t, loadSwitch(false))
	a.Apply(t, manifest(hpaLoad, image))
	a.WaitPods(t, 1, Labeled("app", "burn"))
	// kubectl's verb: the same autoscaler as hpaSpec, with the default
	// behavior.
	if out := a.Shoal(t, "autoscale", "deployment/burn", "--min", "1", "--max", "3", "--cpu-percent", "50"); !strings.Contains(out, "horizontalpodautoscaler.autoscaling/burn autoscaled") {
		t.Errorf("autoscale: %s", out)
	}
	if r := a.Run("autoscale", "deployment/burn", "--max", "3"); r.Code == 0 || !strings.Contains(r.Stderr, "already exists") {
		t.Errorf("autoscale again: %d %s", r.Code, r.Err())
	}
	// Idle and measured: the autoscaler has seen the pod below target.
	poll.Until(t, 60*time.Second, "the autoscaler to measure the idle pod", func() (bool, string) {
		out := a.Shoal(t, "get", "hpa")
		return !strings.Contains(out, "<unknown>"), out
	})
	a.Apply(t, loadSwitch(true))
	start := time.Now()
	var ready time.Duration
	poll.Until(t, 90*time.Second, "a second burn pod Ready", func() (bool, string) {
		pods := Select(burnPods(a, t), IsReady)
		if len(pods) < 2 {
			return false, Summary(burnPods(a, t))
		}
		ready = time.Since(start)
		return true, ""
	})
	t.Logf("load start → second pod Ready: %s (sync period 15 s, metrics interval 10 s)", ready.Round(100*time.Millisecond))
}
