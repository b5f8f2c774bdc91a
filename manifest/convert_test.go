package manifest

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/cluster"
)

func decodeOne(t *testing.T, in string) Object {
	t.Helper()
	objs, err := Decode([]byte(in), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects", len(objs))
	}
	return objs[0]
}

func TestConvertPod(t *testing.T) {
	o := decodeOne(t, `apiVersion: v1
kind: Pod
metadata:
  name: gpu-job
  namespace: ml
  labels: {app: train}
  annotations: {owner: me}
  uid: "1234"                    # written by get -o yaml: ignored
  resourceVersion: "7"
  creationTimestamp: "2026-01-01T00:00:00Z"
spec:
  restartPolicy: Never
  nodeSelector: {gpu: a100}
  terminationGracePeriodSeconds: 5
  hostname: trainer
  subdomain: jobs
  hostNetwork: false             # Kubernetes' default, what Shoal does
  securityContext: {}            # empty: asks for nothing
  imagePullSecrets:
  - name: regcred
  - name: mirror.example.com
  volumes:
  - name: scratch
    emptyDir: {medium: Memory, sizeLimit: 1Gi}
  - name: models
    hostPath: {path: /srv/models, type: Directory}
  initContainers:
  - name: fetch
    image: busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000
    command: [sh, -c, "true"]
  containers:
  - name: train
    image: registry.local:5000/train
    workingDir: /work
    args: [--epochs, "3"]
    env: [{name: A, value: "1"}, {name: B}]
    ports: [{name: metrics, containerPort: 9090, hostPort: 9090, hostIP: 127.0.0.1, protocol: UDP}]
    resources:
      limits: {cpu: "2", memory: 1G, nvidia.com/gpu: 2}
      requests: {cpu: 0.5}
    volumeMounts:
    - {name: scratch, mountPath: /tmp}
    - {name: models, mountPath: /models, subPath: v1, readOnly: true}
    livenessProbe:
      httpGet: {port: metrics, httpHeaders: [{name: X-Probe, value: "1"}]}
    readinessProbe:
      tcpSocket: {port: 9090}
      periodSeconds: 3
      successThreshold: 2
    startupProbe:
      exec: {command: [cat, /ready]}
      failureThreshold: 30
    imagePullPolicy: Never
status:
  phase: Running
`)
	want := &cluster.Pod{
		Namespace: "ml", Name: "gpu-job", Ordinal: -1,
		Labels: map[string]string{"app": "train"}, Annotations: map[string]string{"owner": "me"},
		Spec: cluster.PodSpec{
			InitContainers: []cluster.Container{{
				Name: "fetch", Image: "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
				Command: []string{"sh", "-c", "true"}, ImagePullPolicy: "IfNotPresent",
			}},
			Containers: []cluster.Container{{
				Name: "train", Image: "registry.local:5000/train", WorkingDir: "/work", Args: []string{"--epochs", "3"},
				Env:      []cluster.EnvVar{{Name: "A", Value: "1"}, {Name: "B"}},
				Ports:    []cluster.ContainerPort{{Name: "metrics", ContainerPort: 9090, HostPort: 9090, HostIP: "127.0.0.1", Protocol: "UDP"}},
				Requests: cluster.Resources{MilliCPU: 500, Memory: 1e9, GPU: 2},
				Limits:   cluster.Resources{MilliCPU: 2000, Memory: 1e9, GPU: 2},
				VolumeMounts: []cluster.VolumeMount{{Name: "scratch", MountPath: "/tmp"},
					{Name: "models", MountPath: "/models", SubPath: "v1", ReadOnly: true}},
				LivenessProbe: &cluster.Probe{
					HTTPGet:       &cluster.HTTPGetAction{Path: "/", PortName: "metrics", Scheme: "HTTP", Headers: []cluster.EnvVar{{Name: "X-Probe", Value: "1"}}},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				ReadinessProbe: &cluster.Probe{TCPSocket: &cluster.TCPSocketAction{Port: 9090},
					PeriodSeconds: 3, TimeoutSeconds: 1, SuccessThreshold: 2, FailureThreshold: 3},
				StartupProbe: &cluster.Probe{Exec: []string{"cat", "/ready"},
					PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 30},
				ImagePullPolicy: "Never",
			}},
			Volumes: []cluster.Volume{
				{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory", SizeLimit: 1 << 30}},
				{Name: "models", HostPath: &cluster.HostPathSource{Path: "/srv/models", Type: "Directory"}},
			},
			RestartPolicy: cluster.RestartNever, NodeSelector: map[string]string{"gpu": "a100"},
			TerminationGracePeriodSeconds: 5, Hostname: "trainer", Subdomain: "jobs",
			ImagePullSecrets: []string{"regcred", "mirror.example.com"},
		},
	}
	if !reflect.DeepEqual(o.Pod, want) {
		t.Errorf("pod:\n got %+v\nwant %+v", o.Pod, want)
	}
	if got := o.Pod.Spec.Requests(); got != (cluster.Resources{MilliCPU: 500, Memory: 1e9, GPU: 2}) {
		t.Errorf("requests: %v", got)
	}
}

func TestConvertStrategy(t *testing.T) {
	tests := []struct{ strategy, kind, surge, unavailable string }{
		{"", "RollingUpdate", "25%", "25%"},
		{"strategy: {type: Recreate}", "Recreate", "", ""},
		{"strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}", "RollingUpdate", "1", "0"},
		{"strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 50%}}", "RollingUpdate", "25%", "50%"},
	}
	for _, tt := range tests {
		in := deploy
		if tt.strategy != "" {
			in = replaceOnce(t, deploy, "  replicas: 2\n", "  replicas: 2\n  "+tt.strategy+"\n  revisionHistoryLimit: 3\n  progressDeadlineSeconds: 60\n")
		}
		w := decodeOne(t, in).Workload
		if w.Strategy != tt.kind || w.MaxSurge != tt.surge || w.MaxUnavailable != tt.unavailable {
			t.Errorf("%q: got %s %s/%s", tt.strategy, w.Strategy, w.MaxSurge, w.MaxUnavailable)
		}
		if w.Generation != 1 || w.TemplateHash != w.TemplateID() {
			t.Errorf("generation %d, hash %s", w.Generation, w.TemplateHash)
		}
	}
}

func TestConvertServicePorts(t *testing.T) {
	s := decodeOne(t, `apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  type: NodePort
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: web, nodePort: 30080}
  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
`).Service
	want := []cluster.ServicePort{
		{Name: "http", Protocol: "TCP", Port: 80, TargetPortName: "web", NodePort: 30080},
		{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: 5353},
	}
	if s.Type != "NodePort" || !reflect.DeepEqual(s.Ports, want) {
		t.Errorf("service: %+v", s)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]string{
		"nginx": "Always", "nginx:latest": "Always", "nginx:1.25": "IfNotPresent",
		"localhost:5000/app": "Always", "localhost:5000/app:v2": "IfNotPresent",
		"app@sha256:abc": "IfNotPresent",
	} {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestParseResourceList(t *testing.T) {
	tests := []struct {
		in      string
		want    cluster.Resources
		wantErr string
	}{
		{in: "", want: cluster.Resources{}},
		{in: "cpu=500m,memory=1Gi,nvidia.com/gpu=1", want: cluster.Resources{MilliCPU: 500, Memory: 1 << 30, GPU: 1}},
		{in: " cpu = 2 , memory=64Mi ", want: cluster.Resources{MilliCPU: 2000, Memory: 64 << 20}},
		{in: "cpu=0.5,memory=1G", want: cluster.Resources{MilliCPU: 500, Memory: 1e9}},
		{in: "cpu", wantErr: `resource list "cpu": "cpu" is not name=quantity`},
		{in: "cpu=1,cpu=2", wantErr: `resource list "cpu=1,cpu=2": cpu is given twice`},
		{in: "memory=12XB", wantErr: `resource list "memory=12XB": memory: "12XB" is not a valid quantity`},
		{in: "disk=1Gi", wantErr: `resource list "disk=1Gi": disk: resource "disk" is not supported by Shoal (cpu, memory, ephemeral-storage, nvidia.com/gpu)`},
		{in: "ephemeral-storage=20Gi,memory=1Gi", want: cluster.Resources{EphemeralStorage: 20 << 30, Memory: 1 << 30}},
		{in: "ephemeral-storage=1e30", wantErr: `resource list "ephemeral-storage=1e30": ephemeral-storage: "1e30" is too large`},
		{in: "nvidia.com/gpu=0.5", wantErr: `resource list "nvidia.com/gpu=0.5": nvidia.com/gpu: "500m" must be a whole number of GPUs`},
		{in: "memory=1e30", wantErr: `resource list "memory=1e30": memory: "1e30" is too large`},
		{in: "cpu=-1", wantErr: `resource list "cpu=-1": cpu: "-1" must be 0 or more`},
	}
	for _, tt := range tests {
		got, err := ParseResourceList(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseResourceList(%q) error = %v, want %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseResourceList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found", old)
	}
	return strings.Replace(s, old, new, 1)
}

func TestEmptyIsUnset(t *testing.T) {
	in := replaceOnce(t, deploy, "    spec:\n", "    spec:\n      nodeSelector: {}\n      tolerations: []\n      securityContext: {}\n")
	in = replaceOnce(t, in, "  name: web\n", "  name: web\n  labels: {}\n  annotations: {}\n")
	in = replaceOnce(t, in, "        image: nginx:1.25\n", "        image: nginx:1.25\n        command: []\n        args: []\n")
	if a, b := decodeOne(t, in).Workload, decodeOne(t, deploy).Workload; !reflect.DeepEqual(a, b) {
		t.Errorf("empty fields changed the workload:\n%+v\n%+v", a, b)
	}
}

func TestSidecar(t *testing.T) {
	always, onFailure := corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicy("OnFailure")
	for _, tc := range []struct {
		name    string
		rp      *corev1.ContainerRestartPolicy
		init    bool
		sidecar bool
		err     string
	}{
		{"init container", nil, true, false, ""},
		{"main container", nil, false, false, ""},
		{"sidecar", &always, true, true, ""},
		{"Always on a main container", &always, false, false, "may only be set on init containers (restartPolicy: Always makes a sidecar)"},
		{"OnFailure on an init container", &onFailure, true, false, `"OnFailure" is not supported (only Always, which makes a sidecar)`},
	} {
		c := &conv{}
		got := c.sidecar("p.restartPolicy", tc.rp, tc.init)
		var errs []fieldError
		if tc.err != "" {
			errs = []fieldError{{"p.restartPolicy", tc.err}}
		}
		if got != tc.sidecar || !reflect.DeepEqual(c.errs, errs) {
			t.Errorf("%s: sidecar %v, errors %v; want %v, %v", tc.name, got, c.errs, tc.sidecar, errs)
		}
	}
}

func TestVolumeMounts(t *testing.T) {
	volumes := map[string]bool{"data": true, "scratch": true}
	for _, tc := range []struct {
		name   string
		mounts []corev1.VolumeMount
		errs   []fieldError
	}{
		{"none", nil, nil},
		{"two volumes", []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "a/b"}, {Name: "scratch", MountPath: "/tmp"}}, nil},
		{"unknown volume", []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}},
			[]fieldError{{"m[0].name", `"nope" is not a volume of the pod (spec.volumes or volumeClaimTemplates)`}}},
		{"relative mount path", []corev1.VolumeMount{{Name: "data", MountPath: "data"}},
			[]fieldError{{"m[0].mountPath", `"data" must be an absolute path`}}},
		{"one path twice", []corev1.VolumeMount{{Name: "data", MountPath: "/d"}, {Name: "scratch", MountPath: "/d"}},
			[]fieldError{{"m[1].mountPath", `"/d" is mounted twice`}}},
		{"subPath up", []corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "a/../../b"}},
			[]fieldError{{"m[0].subPath", `"a/../../b" must be a relative path without '..'`}}},
		{"absolute subPath", []corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "/etc"}},
			[]fieldError{{"m[0].subPath", `"/etc" must be a relative path without '..'`}}},
		{"dots in a name are fine", []corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "a..b/c"}}, nil},
	} {
		c := &conv{}
		got := c.volumeMounts("m", tc.mounts, volumes)
		if len(got) != len(tc.mounts) || !reflect.DeepEqual(c.errs, tc.errs) {
			t.Errorf("%s: %d mounts, errors %v; want %d, %v", tc.name, len(got), c.errs, len(tc.mounts), tc.errs)
		}
	}
}

func TestPodFields(t *testing.T) {
	o := decodeOne(t, `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  serviceAccountName: web
  serviceAccount: web
  automountServiceAccountToken: false
  enableServiceLinks: true
  shareProcessNamespace: true
  dnsPolicy: Default
  dnsConfig:
    searches: [corp.example]
    options: [{name: ndots, value: "1"}, {name: rotate}]
  containers: [{name: c, image: busybox}]
`)
	s := o.Pod.Spec
	if s.ServiceAccountName != "web" || s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken ||
		!s.ServiceLinks() || !s.ShareProcessNamespace || s.DNSPolicy != cluster.DNSDefault {
		t.Errorf("spec %+v", s)
	}
	if c := s.DNSConfig; c == nil || len(c.Searches) != 1 || len(c.Options) != 2 || *c.Options[0].Value != "1" || c.Options[1].Value != nil {
		t.Errorf("dnsConfig %+v", c)
	}
	// ClusterFirst is the default, stored as "": the same template.
	a := decodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {dnsPolicy: ClusterFirst, containers: [{name: c, image: busybox}]}\n")
	b := decodeOne(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n")
	if !reflect.DeepEqual(a.Pod.Spec, b.Pod.Spec) {
		t.Errorf("dnsPolicy ClusterFirst differs from no dnsPolicy: %+v", a.Pod.Spec)
	}
}
