package integration

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

const fieldsApp = `
apiVersion: v1
kind: Pod
metadata: {name: dnsnone}
spec:
  terminationGracePeriodSeconds: 1
  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.53]
    searches: [corp.example]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers:
    - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
---
apiVersion: v1
kind: Pod
metadata: {name: shared, labels: {app: shared}}
spec:
  terminationGracePeriodSeconds: 1
  shareProcessNamespace: true
  hostname: h1
  subdomain: sub
  serviceAccountName: builder
  automountServiceAccountToken: false
  dnsConfig:
    searches: [corp.example]
  containers:
    - {name: a, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
    - {name: b, image: IMAGE, command: ["sh", "-c", "exec sleep 3601"]}
---
apiVersion: v1
kind: Service
metadata: {name: sub}
spec:
  clusterIP: None
  selector: {app: shared}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {example.com/owner: web-team}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: IMAGE
          command: ["sh", "-c"]
          args:
            - |
              trap 'exit 0' TERM
              mkdir -p /www && echo hello-from-$(hostname) > /www/index.html
              httpd -p 8080 -h /www
              while true; do sleep 1 & wait $!; done
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, appProtocol: http}]
`

// TestPodFieldsAndLoadBalancer, on two agents: a pod's resolv.conf
// follows its dnsPolicy and dnsConfig; the containers of a pod with
// shareProcessNamespace see each other's processes with the pause process
// as PID 1; a pod's hostname and subdomain give it its name and a DNS
// name under the headless Service; template annotations reach the pods; a
// LoadBalancer's ingress is both nodes' addresses and its node port
// reaches the pod through either node from outside; a server-side dry run
// changes nothing.
func TestPodFieldsAndLoadBalancer(t *testing.T) {
	c := StartCluster(t, 2, nil)
	a := c.Agents[0]
	a.Apply(t, manifest(fieldsApp, c.Image))
	a.WaitPods(t, 3, func(corev1.Pod) bool { return true })

	t.Run("dnsPolicy None", func(t *testing.T) {
		out, code := a.Exec(t, "dnsnone", "c", "cat", "/etc/resolv.conf")
		if want := "search corp.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n"; code != 0 || out != want {
			t.Errorf("resolv.conf:\n%s\nwant:\n%s", out, want)
		}
	})
	t.Run("dnsConfig added to ClusterFirst", func(t *testing.T) {
		out, _ := a.Exec(t, "shared", "a", "cat", "/etc/resolv.conf")
		if !strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n") ||
			!strings.Contains(out, "options ndots:5") || !strings.Contains(out, "nameserver ") {
			t.Errorf("resolv.conf:\n%s", out)
		}
	})
	t.Run("shareProcessNamespace", func(t *testing.T) {
		out, code := a.Exec(t, "shared", "a", "ps", "-o", "pid,args")
		if code != 0 || !strings.Contains(out, "sleep 3601") {
			t.Errorf("container a's ps lacks container b's process:\n%s", out)
		}
		out, _ = a.Exec(t, "shared", "b", "cat", "/proc/1/cmdline")
		if strings.TrimRight(out, "\x00") != "/pause" {
			t.Errorf("PID 1 is %q, want the pause process", out)
		}
	})
	t.Run("hostname and subdomain", func(t *testing.T) {
		pod, _ := a.Pod(t, "shared")
		if out, _ := a.Exec(t, "shared", "a", "hostname"); strings.TrimSpace(out) != "h1" {
			t.Errorf("hostname %q, want h1", out)
		}
		poll.Until(t, PodTimeout, "h1.sub to resolve to the pod", func() (bool, string) {
			out, _ := a.Exec(t, "shared", "a", "nslookup", "h1.sub.default.svc.cluster.local")
			got := addresses(out)
			return slices.Equal(got, []string{pod.Status.PodIP}), fmt.Sprintf("nslookup: %v, want [%s]", got, pod.Status.PodIP)
		})
	})
	t.Run("service account and annotations", func(t *testing.T) {
		if d := a.Describe(t, "pod", "shared"); !strings.Contains(d, "builder (no API token mounted: Shoal has no Kubernetes API)") {
			t.Errorf("describe pod shared:\n%s", d)
		}
		web := a.WaitPods(t, 1, Labeled("app", "web"))[0]
		if web.Annotations["example.com/owner"] != "web-team" {
			t.Errorf("web pod annotations %v, want the template's", web.Annotations)
		}
	})
	t.Run("LoadBalancer", func(t *testing.T) {
		var svc corev1.Service
		a.ShoalJSON(t, &svc, "get", "service", "web")
		np := svc.Spec.Ports[0].NodePort
		var ingress []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			ingress = append(ingress, in.IP)
		}
		if want := []string{c.Addr(0), c.Addr(1)}; !slices.Equal(ingress, want) || np < 30000 || np > 32767 {
			t.Fatalf("service web: node port %d, ingress %v; want one in 30000-32767 and %v", np, ingress, want)
		}
		if out := a.Shoal(t, "get", "services"); !strings.Contains(out, c.Addr(0)+","+c.Addr(1)) || !strings.Contains(out, fmt.Sprintf("80:%d/TCP", np)) {
			t.Errorf("get services:\n%s", out)
		}
		client := &http.Client{Timeout: 3 * time.Second}
		for _, addr := range ingress {
			url := fmt.Sprintf("http://%s:%d/", addr, np)
			poll.Until(t, PodTimeout, url+" from the host", func() (bool, string) {
				resp, err := client.Get(url)
				if err != nil {
					return false, err.Error()
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return strings.Contains(string(b), "hello-from-web-"), fmt.Sprintf("%d %q", resp.StatusCode, b)
			})
		}
	})
	t.Run("server dry run", func(t *testing.T) {
		scaled := strings.Replace(manifest(fieldsApp, c.Image), "replicas: 1", "replicas: 3", 1)
		r := a.RunInput([]byte(scaled), "apply", "--dry-run=server", "-f", "-")
		if r.Code != 0 || !strings.Contains(r.Stdout, "deployment.apps/web configured (server dry run)") ||
			!strings.Contains(r.Stdout, "pod/dnsnone unchanged (server dry run)") {
			t.Fatalf("%s\n%s", r.Err(), r.Stdout)
		}
		bad := strings.Replace(scaled, "externalTrafficPolicy: Cluster", "externalTrafficPolicy: Both", 1)
		if r := a.RunInput([]byte(bad), "apply", "--dry-run=server", "-f", "-"); r.Code == 0 || !strings.Contains(r.Stderr, `"Both" is not valid`) {
			t.Errorf("a refused dry run: exit %d: %s", r.Code, r.Stderr)
		}
		time.Sleep(time.Second)
		if got := Select(a.Pods(t), Labeled("app", "web")); len(got) != 1 {
			t.Errorf("after dry runs: %d web pods, want 1: %s", len(got), Summary(got))
		}
	})
}
