package integration

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// clusterIPApp: an http server on every node (a DaemonSet) answering its
// pod's name on the container port named http, one more pod with the
// same label whose readiness probe never passes, the Services in front
// of them (one with ClientIP affinity), a client pod, and a "late" server
// that turns ready when told.
const clusterIPApp = `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: echo}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: IMAGE
          command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            tcpSocket: {port: http}
            periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: unready, labels: {app: echo}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: IMAGE
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports: [{name: http, containerPort: 8080}]
      readinessProbe:
        exec: {command: ["false"]}
        periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: web, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
---
apiVersion: v1
kind: Pod
metadata: {name: late, labels: {app: late}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: IMAGE
      command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
      readinessProbe:
        exec: {command: ["test", "-e", "/tmp/ready"]}
        periodSeconds: 1
        failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: late}
spec:
  selector: {app: late}
  ports: [{port: 80, targetPort: 8080}]
`

// TestClusterIPs: on three agents, a Service's virtual IP, resolved by
// its DNS name, spreads a pod's connections over every ready endpoint on
// every node and never reaches an unready one; ClientIP affinity keeps a
// client on one pod; an endpoint turning ready gets traffic within about
// its probe period. It logs connection setup times through the virtual
// IP and straight to a pod, and the ready-to-traffic delay.
func TestClusterIPs(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	a := c.Agents[0]
	a.Apply(t, manifest(clusterIPApp, c.Image))
	echo := a.WaitPods(t, 3, func(p corev1.Pod) bool { return Labeled("app", "echo")(p) && p.Name != "unready" })
	a.WaitPods(t, 1, Named("client"))
	poll.Until(t, PodTimeout, "unready and late running", func() (bool, string) {
		u, _ := a.Pod(t, "unready")
		l, _ := a.Pod(t, "late")
		return u.Status.PodIP != "" && l.Status.PodIP != "", Summary(a.Pods(t))
	})
	vip := serviceIP(t, a, "echo")
	want := map[string]bool{}
	for _, p := range echo {
		want[p.Name] = true
	}
	t.Logf("echo %s; pods: %s", vip, Summary(a.Pods(t)))

	// The name resolves to the virtual IP, as in Kubernetes.
	if out, _ := a.Exec(t, "client", "", "nslookup", "echo"); !strings.Contains(strings.Join(addresses(out), ","), vip) {
		t.Errorf("nslookup echo:\n%s\nwant %s", out, vip)
	}
	// 200 connections by name: every ready pod on every node, never the
	// unready one.
	got := fetchNames(t, a, "http://echo/", 200)
	if got["unready"] > 0 || len(got) != len(want) {
		t.Errorf("200 connections to echo reached %v, want each of %v and never unready", got, want)
	}
	for name := range want {
		if got[name] < 20 {
			t.Errorf("%s got %d of 200 connections: not balanced (%v)", name, got[name], got)
		}
	}
	// ClientIP affinity: one client, one pod.
	if got := fetchNames(t, a, "http://sticky/", 30); len(got) != 1 {
		t.Errorf("30 connections to sticky reached %v, want one pod", got)
	}

	// Connection setup, through the virtual IP and straight to a pod
	// (200 wget runs each, process start included in both).
	var direct string
	for _, p := range echo {
		if p.Spec.NodeName != clientNode(t, a) {
			direct = p.Status.PodIP + ":8080"
		}
	}
	viaVIP := timeFetches(t, a, "http://"+vip+"/", 200)
	viaPod := timeFetches(t, a, "http://"+direct+"/", 200)
	t.Logf("200 HTTP fetches from the client pod: through %s %v (%v each), straight to pod %s %v (%v each)",
		vip, viaVIP, viaVIP/200, direct, viaPod, viaPod/200)

	touched := readyToTraffic(t, c, a)
	time.Sleep(2 * time.Second) // the other agents' syncs, to be logged
	syncTimes(t, c, touched)
}

var tookRE = regexp.MustCompile(`time=(\S+) .*msg="services synced".* took=(\S+)`)

// syncTimes logs how long the agents' service rule syncs took (one
// iptables-save and one iptables-restore each), and when each agent's
// first sync after the late pod's readiness file was done.
func syncTimes(t *testing.T, c *Cluster, touched time.Time) {
	t.Helper()
	var took []time.Duration
	for i, ag := range c.Agents {
		b, err := os.ReadFile(ag.Log)
		if err != nil {
			t.Fatal(err)
		}
		first := false
		for _, m := range tookRE.FindAllStringSubmatch(string(b), -1) {
			d, err := time.ParseDuration(m[2])
			if err != nil {
				continue
			}
			took = append(took, d)
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && at.After(touched) && !first {
				first = true
				t.Logf("agent %d: rules with late's endpoint in place %v after the readiness file (that sync took %v)", i+1, at.Sub(touched), d)
			}
		}
	}
	if len(took) == 0 {
		t.Fatal("no service sync logged")
	}
	slices.Sort(took)
	t.Logf("%d service rule syncs on 3 agents: median %v, max %v", len(took), took[len(took)/2], took[len(took)-1])
}

// serviceIP is the Service's virtual IP, checked to be one.
func serviceIP(t *testing.T, a *Agent, name string) string {
	t.Helper()
	var svc corev1.Service
	a.ShoalJSON(t, &svc, "get", "service", name)
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !ip.Is4() || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
		t.Fatalf("service %s: clusterIP %q, clusterIPs %v", name, svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	return ip.String()
}

func clientNode(t *testing.T, a *Agent) string {
	t.Helper()
	p, _ := a.Pod(t, "client")
	return p.Spec.NodeName
}

// fetchNames fetches url n times from the client pod, each on a new
// connection, and counts the answers (pod names).
func fetchNames(t *testing.T, a *Agent, url string, n int) map[string]int {
	t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do timeout 3 wget -qO- %s || echo failed; done`, n, url)
	out, code := a.Exec(t, "client", "", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("fetch %s: exit %d: %s", url, code, out)
	}
	got := map[string]int{}
	for _, l := range strings.Fields(out) {
		got[l]++
	}
	if got["failed"] > 0 {
		t.Errorf("fetch %s: %d of %d failed", url, got["failed"], n)
	}
	return got
}

var realTime = regexp.MustCompile(`real\s+(\d+)m\s*([\d.]+)s`)

// timeFetches is how long n fetches of url take in the client pod, by
// busybox's time. (Busybox's wget -T crashes in the test image: timeout
// bounds each fetch instead.)
func timeFetches(t *testing.T, a *Agent, url string, n int) time.Duration {
	t.Helper()
	script := fmt.Sprintf(`time sh -c 'for i in $(seq %d); do timeout 3 wget -qO- %s >/dev/null || echo failed; done'`, n, url)
	out, code := a.Exec(t, "client", "", "sh", "-c", script)
	m := realTime.FindStringSubmatch(out)
	if code != 0 || strings.Contains(out, "failed") || m == nil {
		t.Fatalf("time fetches of %s: exit %d: %s", url, code, out)
	}
	mins, _ := strconv.Atoi(m[1])
	secs, _ := strconv.ParseFloat(m[2], 64)
	return time.Duration(mins)*time.Minute + time.Duration(secs*float64(time.Second))
}

// readyToTraffic: the late pod's Service has no ready endpoint (its
// connections are refused); the pod turns ready, and the client, trying
// every 20 ms, gets through. Logs the delay from the readiness file to
// the first answer (probe period, status report, rules sync, exec
// round trips) and from the API showing the pod Ready to the first answer.
func readyToTraffic(t *testing.T, c *Cluster, a *Agent) time.Time {
	t.Helper()
	vip := serviceIP(t, a, "late")
	if out, _ := a.Exec(t, "client", "", "timeout", "2", "wget", "-qO-", "http://"+vip+"/"); !strings.Contains(out, "refused") {
		t.Errorf("late before ready: %q, want connection refused", out)
		for i, ns := range c.NS {
			rules, _ := ns.Exec("iptables", "-w", "5", "-S")
			t.Logf("agent %d filter rules:\n%s", i+1, rules)
		}
	}
	done := make(chan time.Time, 1)
	go func() {
		script := fmt.Sprintf(`until timeout 1 wget -qO- http://%s/ >/dev/null 2>&1; do usleep 20000; done`, vip)
		out, code := a.Exec(t, "client", "", "timeout", "60", "sh", "-c", script)
		if code != 0 {
			t.Errorf("waiting for late: exit %d: %s", code, out)
		}
		done <- time.Now()
	}()
	time.Sleep(time.Second) // the loop is running
	if out, code := a.Exec(t, "late", "", "touch", "/tmp/ready"); code != 0 {
		t.Fatalf("touch: %d %s", code, out)
	}
	touched := time.Now()
	var ready time.Time
	for ready.IsZero() {
		select {
		case reached := <-done:
			if ready.IsZero() {
				ready = reached
			}
			t.Logf("late: traffic through its virtual IP %v after the readiness file (probe period 1s)", reached.Sub(touched))
			return touched
		default:
		}
		if p, _ := a.Pod(t, "late"); IsReady(p) {
			ready = time.Now()
		}
	}
	reached := <-done
	t.Logf("late: Ready in the API %v after the readiness file (polled with the CLI); traffic through its virtual IP %v after the file",
		ready.Sub(touched), reached.Sub(touched))
	return touched
}
