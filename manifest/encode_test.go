package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"shoal/cluster"
)

func toK8s(o Object) any {
	switch {
	case o.Workload != nil:
		return WorkloadToK8s(o.Workload, nil)
	case o.Pod != nil:
		return PodToK8s(o.Pod)
	default:
		return ServiceToK8s(o.Service)
	}
}

// richDeploy uses most of what Shoal supports, so the round trip covers it.
const richDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: prod
  labels: {app: api}
  annotations: {team: core}
spec:
  replicas: 4
  revisionHistoryLimit: 3
  selector: {matchLabels: {app: api}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 10%}}
  template:
    metadata: {labels: {app: api, tier: web}, annotations: {prometheus.io/scrape: "true", checksum/config: abc}}
    spec:
      nodeSelector: {zone: a}
      terminationGracePeriodSeconds: 10
      imagePullSecrets: [{name: regcred}, {name: mirror.creds}]
      volumes:
      - {name: tmp, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
      - {name: sock, hostPath: {path: /run/x.sock, type: Socket}}
      initContainers:
      - {name: migrate, image: "api:v3", command: [migrate]}
      - name: proxy
        image: envoy:v1
        restartPolicy: Always
        readinessProbe: {tcpSocket: {port: 15000}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
      containers:
      - name: api
        image: api:v3
        args: [serve]
        env: [{name: MODE, value: prod}]
        ports: [{name: http, containerPort: 8080}]
        resources:
          requests: {cpu: 250m, memory: 128Mi}
          limits: {cpu: "1", memory: 512Mi, nvidia.com/gpu: 1, ephemeral-storage: 2Gi}
        volumeMounts: [{name: tmp, mountPath: /tmp}, {name: sock, mountPath: /run/x.sock, readOnly: true}]
        livenessProbe: {httpGet: {path: /healthz, port: http, scheme: HTTPS, host: localhost}, initialDelaySeconds: 5}
        readinessProbe: {exec: {command: [check]}, timeoutSeconds: 2}
        startupProbe: {grpc: {port: 9090, service: api}, failureThreshold: 30}
        lifecycle:
          postStart: {exec: {command: [warm-up]}}
          preStop: {httpGet: {path: /drain, port: http, httpHeaders: [{name: X-Drain, value: "1"}]}}
`

// TestRoundTrip: decode, encode as `get -o yaml` would, decode again: the
// same cluster objects, so `get -o yaml | apply -f -` changes nothing.
func TestRoundTrip(t *testing.T) {
	inputs := map[string][]byte{"rich.yaml": []byte(richDeploy)}
	for _, f := range []string{"deployment-sidecar.yaml", "php-apache.yaml", "web.yaml", "guestbook/frontend-deployment.yaml",
		"guestbook/redis-follower-deployment.yaml", "guestbook/redis-leader-service.yaml", "mysql/mysql-services.yaml"} {
		b, err := os.ReadFile("testdata/k8s-examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = b
	}
	secure, _ := filepath.Glob("testdata/security/*.yaml")
	for _, f := range secure {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = b
	}
	inputs["secure-pod.yaml"] = []byte(secPod("hostPID: true\nhostIPC: true\nsecurityContext: {runAsUser: 1, runAsGroup: 2, runAsNonRoot: false, "+
		"supplementalGroups: [3, 4], fsGroup: 5, fsGroupChangePolicy: Always, seccompProfile: {type: Localhost, localhostProfile: p/a.json}, "+
		"sysctls: [{name: net.ipv4.tcp_syncookies, value: '1'}]}",
		"securityContext: {runAsUser: 6, runAsGroup: 7, runAsNonRoot: true, readOnlyRootFilesystem: false, allowPrivilegeEscalation: true, "+
			"privileged: false, capabilities: {add: [CAP_NET_RAW], drop: [ALL]}, seccompProfile: {type: Unconfined}, procMount: Unmasked, "+
			"appArmorProfile: {type: RuntimeDefault}}"))
	// Labels and annotations of every kind come back.
	inputs["meta.yaml"] = []byte(`apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: p}, annotations: {owner: ops, example.com/note: "x y"}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: dns}
spec:
  serviceAccount: web
  automountServiceAccountToken: false
  enableServiceLinks: false
  shareProcessNamespace: true
  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.53]
    searches: [corp.example., example.com]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  hostname: h
  subdomain: s
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: s, labels: {app: s}, annotations: {owner: ops}}
spec: {selector: {app: p}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  sessionAffinity: None
  allocateLoadBalancerNodePorts: true
  selector: {app: p}
  ports: [{name: http, port: 80, nodePort: 30080, appProtocol: http}, {name: h2, port: 81, appProtocol: kubernetes.io/h2c}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, labels: {app: db}, annotations: {owner: ops}}
spec:
  revisionHistoryLimit: 0
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}, annotations: {owner: ops}}
    spec: {containers: [{name: c, image: busybox}]}
`)
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			first, err := Decode(in, name)
			if err != nil {
				t.Fatal(err)
			}
			var docs []string
			for _, o := range first {
				b, err := yaml.Marshal(toK8s(o))
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(b))
			}
			out := strings.Join(docs, "---\n")
			second, err := Decode([]byte(out), "out.yaml")
			if err != nil {
				t.Fatalf("re-applying the output: %v\n%s", err, out)
			}
			if len(first) != len(second) {
				t.Fatalf("%d objects, then %d", len(first), len(second))
			}
			for i := range first {
				a, b := first[i], second[i]
				if !reflect.DeepEqual(a.Workload, b.Workload) || !reflect.DeepEqual(a.Pod, b.Pod) || !reflect.DeepEqual(a.Service, b.Service) {
					t.Errorf("object %d changed:\n%+v\n%+v\n%s", i, a.Workload, b.Workload, out)
				}
			}
		})
	}
}

// jsonOf marshals v and decodes it generically, for checking fields by path.
func jsonOf(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at follows a path of keys and indexes through generic JSON.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestPodToK8s(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := decodeOne(t, richDeploy).Workload
	running := &cluster.Pod{
		Namespace: "prod", Name: "api-x7k2p", UID: "u1", Labels: w.TemplateLabels,
		Owner: &cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "api", UID: "w1"}, Ordinal: -1,
		TemplateHash: w.TemplateHash, Spec: w.Template, NodeName: "n1", CreatedAt: start,
		Status: cluster.PodStatus{Phase: cluster.PodRunning, PodIP: "10.88.1.5", HostIP: "192.168.1.10", Ready: true, StartedAt: start,
			Containers: []cluster.ContainerStatus{
				{Name: "migrate", State: cluster.ContainerTerminated, Reason: "Completed", ExitCode: 0},
				{Name: "api", State: cluster.ContainerRunning, Ready: true, RestartCount: 2, StartedAt: start,
					LastTermination: "OOMKilled", LastExitCode: 137, Image: "api:v3"},
			}},
	}
	m := jsonOf(t, PodToK8s(running))
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"apiVersion"}, "v1"}, {[]any{"kind"}, "Pod"},
		{[]any{"metadata", "name"}, "api-x7k2p"}, {[]any{"metadata", "uid"}, "u1"},
		{[]any{"metadata", "creationTimestamp"}, "2026-01-02T03:04:05Z"},
		{[]any{"metadata", "ownerReferences", 0, "kind"}, "Deployment"},
		{[]any{"metadata", "ownerReferences", 0, "uid"}, "w1"},
		{[]any{"spec", "nodeName"}, "n1"},
		{[]any{"spec", "containers", 0, "resources", "limits", "nvidia.com/gpu"}, "1"},
		{[]any{"spec", "containers", 0, "resources", "requests", "memory"}, "128Mi"},
		{[]any{"spec", "initContainers", 1, "restartPolicy"}, "Always"},
		{[]any{"status", "phase"}, "Running"}, {[]any{"status", "podIP"}, "10.88.1.5"}, {[]any{"status", "hostIP"}, "192.168.1.10"},
		{[]any{"status", "conditions", 0, "type"}, "PodScheduled"}, {[]any{"status", "conditions", 0, "status"}, "True"},
		{[]any{"status", "conditions", 2, "type"}, "Ready"}, {[]any{"status", "conditions", 2, "status"}, "True"},
		{[]any{"status", "initContainerStatuses", 0, "state", "terminated", "reason"}, "Completed"},
		{[]any{"status", "containerStatuses", 0, "name"}, "api"},
		{[]any{"status", "containerStatuses", 0, "restartCount"}, 2.0},
		{[]any{"status", "containerStatuses", 0, "state", "running", "startedAt"}, "2026-01-02T03:04:05Z"},
		{[]any{"status", "containerStatuses", 0, "lastState", "terminated", "reason"}, "OOMKilled"},
		{[]any{"status", "containerStatuses", 0, "lastState", "terminated", "exitCode"}, 137.0},
	}
	for _, c := range checks {
		if got := at(m, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("running pod %v = %#v, want %#v", c.path, got, c.want)
		}
	}

	pending := &cluster.Pod{Namespace: "default", Name: "big", Ordinal: -1, Spec: w.Template,
		SchedulingMessage: "0/3 nodes: 3 insufficient nvidia.com/gpu",
		Status:            cluster.PodStatus{Containers: []cluster.ContainerStatus{{Name: "api", State: cluster.ContainerWaiting, Reason: "ContainerCreating"}}}}
	m = jsonOf(t, PodToK8s(pending))
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"status", "phase"}, "Pending"},
		{[]any{"status", "conditions", 0, "type"}, "PodScheduled"},
		{[]any{"status", "conditions", 0, "status"}, "False"},
		{[]any{"status", "conditions", 0, "reason"}, "Unschedulable"},
		{[]any{"status", "conditions", 0, "message"}, "0/3 nodes: 3 insufficient nvidia.com/gpu"},
		{[]any{"status", "conditions", 2, "status"}, "False"},
		{[]any{"status", "containerStatuses", 0, "state", "waiting", "reason"}, "ContainerCreating"},
		{[]any{"spec", "nodeName"}, nil},
	} {
		if got := at(m, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("pending pod %v = %#v, want %#v", c.path, got, c.want)
		}
	}
}

func TestStatefulSetPodClaims(t *testing.T) {
	w := loadOne(t, "web.yaml", KindStatefulSet, "web").Workload
	p := &cluster.Pod{Namespace: "default", Name: "web-0", Ordinal: 0, Spec: w.Template}
	m := jsonOf(t, PodToK8s(p))
	if got := at(m, "spec", "volumes", 0, "persistentVolumeClaim", "claimName"); got != "www-web-0" {
		t.Errorf("claim volume: %v", got)
	}
	s := jsonOf(t, WorkloadToK8s(w, nil))
	if got := at(s, "spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage"); got != "1Gi" {
		t.Errorf("claim template storage: %v", got)
	}
	if got := at(s, "spec", "template", "spec", "volumes"); got != nil {
		t.Errorf("template volumes should not list claims: %v", got)
	}
}

func TestWorkloadStatus(t *testing.T) {
	w := decodeOne(t, deploy).Workload
	w.UID = "w1"
	pod := func(name string, ready bool, hash, owner string, terminating bool) *cluster.Pod {
		p := &cluster.Pod{Name: name, TemplateHash: hash, Terminating: terminating,
			Owner: &cluster.OwnerRef{UID: owner}, Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: ready}}
		return p
	}
	pods := []*cluster.Pod{
		pod("a", true, w.TemplateHash, "w1", false),
		pod("b", false, w.TemplateHash, "w1", false),
		pod("c", true, "old", "w1", false),
		pod("d", true, w.TemplateHash, "w1", true),  // terminating: not counted
		pod("e", true, w.TemplateHash, "w2", false), // someone else's
	}
	m := jsonOf(t, WorkloadToK8s(w, pods))
	for k, want := range map[string]float64{"replicas": 3, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "observedGeneration": 1} {
		if got := at(m, "status", k); got != want {
			t.Errorf("status.%s = %v, want %v", k, got, want)
		}
	}
	if at(m, "kind") != "Deployment" || at(m, "spec", "replicas") != 2.0 || at(m, "spec", "strategy", "rollingUpdate", "maxSurge") != "25%" {
		t.Errorf("deployment: %v", m)
	}
}

func TestServiceToK8s(t *testing.T) {
	s := &cluster.Service{Namespace: "default", Name: "db", Selector: map[string]string{"app": "db"}, ClusterIP: "None", Type: "ClusterIP",
		Ports: []cluster.ServicePort{{Name: "pg", Protocol: "TCP", Port: 5432}, {Name: "m", Protocol: "TCP", Port: 9, TargetPortName: "metrics"}}}
	m := jsonOf(t, ServiceToK8s(s))
	if at(m, "spec", "clusterIP") != "None" || at(m, "spec", "ports", 0, "targetPort") != 5432.0 || at(m, "spec", "ports", 1, "targetPort") != "metrics" {
		t.Errorf("service: %v", m)
	}
	lb := &cluster.Service{Namespace: "default", Name: "web", Selector: map[string]string{"app": "web"}, Type: "LoadBalancer",
		Ports: []cluster.ServicePort{{Protocol: "TCP", Port: 80, NodePort: 30080}}, LoadBalancerIngress: []string{"192.0.2.1", "192.0.2.2"}}
	m = jsonOf(t, ServiceToK8s(lb))
	if at(m, "status", "loadBalancer", "ingress", 1, "ip") != "192.0.2.2" || at(m, "spec", "ports", 0, "nodePort") != 30080.0 ||
		at(m, "spec", "externalTrafficPolicy") != "Cluster" {
		t.Errorf("load balancer: %v", m)
	}
	vip := &cluster.Service{Namespace: "default", Name: "web", Selector: map[string]string{"app": "web"}, Type: "NodePort", ClusterIP: "10.43.0.7",
		SessionAffinity: cluster.SessionAffinityClientIP, ExternalTrafficPolicy: cluster.ExternalTrafficPolicyLocal,
		Ports: []cluster.ServicePort{{Protocol: "TCP", Port: 80, NodePort: 30080}}}
	m = jsonOf(t, ServiceToK8s(vip))
	if at(m, "spec", "clusterIP") != "10.43.0.7" || at(m, "spec", "clusterIPs", 0) != "10.43.0.7" || at(m, "spec", "sessionAffinity") != "ClientIP" ||
		at(m, "spec", "sessionAffinityConfig", "clientIP", "timeoutSeconds") != 10800.0 || at(m, "spec", "externalTrafficPolicy") != "Local" {
		t.Errorf("virtual IP: %v", m)
	}
	// What encode writes, decode reads back the same.
	y, err := yaml.Marshal(ServiceToK8s(vip))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(y, "vip.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := objs[0].Service
	if got.ClusterIP != vip.ClusterIP || got.SessionAffinity != vip.SessionAffinity || got.SessionAffinityTimeout != 10800 || got.ExternalTrafficPolicy != vip.ExternalTrafficPolicy {
		t.Errorf("round trip: %+v", got)
	}
}

func TestNodeToK8s(t *testing.T) {
	n := &cluster.Node{Name: "n1", Address: "192.168.1.10", Labels: map[string]string{"zone": "a"},
		Capacity:    cluster.Resources{MilliCPU: 16000, Memory: 64 << 30, EphemeralStorage: 500 << 30, GPU: 2},
		Allocatable: cluster.Resources{MilliCPU: 15500, Memory: 63 << 30, EphemeralStorage: 500 << 30, GPU: 2},
		GPUs:        []cluster.GPU{{Index: 0, UUID: "GPU-a", Model: "H200", MemoryBytes: 141 << 30}, {Index: 1, UUID: "GPU-b", Model: "H200"}},
		PodCIDR:     "10.88.1.0/24", Unschedulable: true, Status: cluster.NodeReady, Raft: cluster.RaftLeader}
	usage := cluster.NodeUsage{Requested: cluster.Resources{MilliCPU: 500, GPU: 1}, GPUs: map[string]string{"GPU-b": "default/train"}, Pods: 1}
	m := jsonOf(t, NodeToK8s(n, usage))
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"apiVersion"}, "v1"}, {[]any{"kind"}, "Node"},
		{[]any{"metadata", "name"}, "n1"}, {[]any{"metadata", "labels", "zone"}, "a"},
		{[]any{"spec", "unschedulable"}, true}, {[]any{"spec", "podCIDR"}, "10.88.1.0/24"},
		{[]any{"status", "capacity", "cpu"}, "16"}, {[]any{"status", "capacity", "memory"}, "64Gi"},
		{[]any{"status", "capacity", "nvidia.com/gpu"}, "2"}, {[]any{"status", "allocatable", "cpu"}, "15500m"},
		{[]any{"status", "capacity", "ephemeral-storage"}, "500Gi"}, {[]any{"status", "allocatable", "ephemeral-storage"}, "500Gi"},
		{[]any{"status", "addresses", 0, "type"}, "InternalIP"}, {[]any{"status", "addresses", 0, "address"}, "192.168.1.10"},
		{[]any{"status", "conditions", 0, "type"}, "Ready"}, {[]any{"status", "conditions", 0, "status"}, "True"},
		{[]any{"status", "raft"}, "leader"},
		{[]any{"status", "allocated", "cpu"}, "500m"}, {[]any{"status", "pods"}, 1.0},
		{[]any{"status", "gpus", 0, "uuid"}, "GPU-a"}, {[]any{"status", "gpus", 0, "memory"}, "141Gi"},
		{[]any{"status", "gpus", 1, "pod"}, "default/train"}, {[]any{"status", "gpus", 0, "pod"}, nil},
	} {
		if got := at(m, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("node %v = %#v, want %#v", c.path, got, c.want)
		}
	}
	n.Status = cluster.NodeDown
	if got := at(jsonOf(t, NodeToK8s(n, cluster.NodeUsage{})), "status", "conditions", 0, "status"); got != "False" {
		t.Errorf("down node Ready = %v", got)
	}
}

func TestList(t *testing.T) {
	b, err := json.Marshal(List())
	if err != nil || string(b) != `{"apiVersion":"v1","kind":"List","items":[]}` {
		t.Errorf("empty list: %s %v", b, err)
	}
	m := jsonOf(t, List(ServiceToK8s(&cluster.Service{Name: "a"}), NodeToK8s(&cluster.Node{Name: "n"}, cluster.NodeUsage{})))
	if at(m, "items", 0, "kind") != "Service" || at(m, "items", 1, "kind") != "Node" {
		t.Errorf("list: %v", m)
	}
}

// TestListReapplies: `get deployments,services -o yaml` prints a v1 List,
// which applies again; a bad item is named by its index.
func TestListReapplies(t *testing.T) {
	w := decodeOne(t, richDeploy).Workload
	s := decodeOne(t, svcDoc).Service
	b, err := yaml.Marshal(List(WorkloadToK8s(w, nil), ServiceToK8s(s)))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(b, "list.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(objs) != 2 || !reflect.DeepEqual(objs[0].Workload, w) || !reflect.DeepEqual(objs[1].Service, s) {
		t.Fatalf("got %+v", objs)
	}
	if objs[1].Line < 2 || objs[1].Line == objs[0].Line {
		t.Errorf("item lines: %d, %d", objs[0].Line, objs[1].Line)
	}
	bad := "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(svcDoc), "\n", "\n  ") +
		"\n- apiVersion: v1\n  kind: Service\n  metadata: {name: x}\n  spec: {selector: {a: b}, ports: [{port: 0}]}\n"
	_, err = Decode([]byte(bad), "list.yaml")
	want := `list.yaml: document 1 (Service "x", line 15): items[1].spec.ports[0].port: 0 is not a valid port (1-65535)`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

// TestKeptFields: what was once accepted and silently dropped is kept and
// shown again: a Service's annotations, a claim template's storage class,
// labels and annotations.
func TestKeptFields(t *testing.T) {
	const in = `apiVersion: v1
kind: Service
metadata:
  name: db
  annotations: {prometheus.io/scrape: "true"}
spec:
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16, volumeMounts: [{name: data, mountPath: /data}]}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: {tier: storage}, annotations: {backup: daily}}
    spec:
      accessModes: [ReadWriteOnce]
      storageClassName: fast-ssd
      resources: {requests: {storage: 10Gi}}
`
	objs, err := Decode([]byte(in), "kept.yaml")
	if err != nil {
		t.Fatal(err)
	}
	svc, sts := objs[0].Service, objs[1].Workload
	if svc.Annotations["prometheus.io/scrape"] != "true" {
		t.Errorf("service annotations %v", svc.Annotations)
	}
	cl := sts.VolumeClaimTemplates[0]
	if cl.StorageClassName != "fast-ssd" || cl.Labels["tier"] != "storage" || cl.Annotations["backup"] != "daily" {
		t.Errorf("claim template %+v", cl)
	}
	var out []string
	for _, o := range objs {
		b, err := yaml.Marshal(toK8s(o))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	for _, want := range []string{"prometheus.io/scrape: \"true\"", "storageClassName: fast-ssd", "backup: daily", "tier: storage"} {
		if !strings.Contains(strings.Join(out, "---\n"), want) {
			t.Errorf("-o yaml lost %q:\n%s", want, strings.Join(out, "---\n"))
		}
	}
}
