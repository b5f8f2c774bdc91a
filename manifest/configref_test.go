package manifest

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"shoal/cluster"
)

// configPod uses every way a pod takes configuration from ConfigMaps,
// Secrets and the downward API.
const configPod = `apiVersion: v1
kind: Pod
metadata: {name: app, labels: {app: web}}
spec:
  enableServiceLinks: false
  volumes:
  - name: cfg
    configMap:
      name: app-config
      items: [{key: app.conf, path: conf/app.conf, mode: 0600}]
      optional: true
  - {name: creds, secret: {secretName: db-pass, defaultMode: 0400}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: tier, fieldRef: {apiVersion: v1, fieldPath: "metadata.labels['tier']"}}
      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      defaultMode: 0440
      sources:
      - configMap: {name: app-config, items: [{key: a, path: a}]}
      - secret: {name: db-pass, optional: true}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  containers:
  - name: app
    image: busybox:1.36
    env:
    - {name: LITERAL, value: "x"}
    - name: LEVEL
      valueFrom: {configMapKeyRef: {name: app-config, key: level}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db-pass, key: password, optional: true}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: CPU_MILLIS
      valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}
    - name: SCRATCH_GB
      valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage, divisor: 1G}}
    envFrom:
    - {configMapRef: {name: app-config}}
    - {prefix: DB_, secretRef: {name: db-pass, optional: true}}
    resources: {requests: {cpu: 100m}}
    volumeMounts:
    - {name: cfg, mountPath: /etc/app}
    - {name: creds, mountPath: /etc/creds}
    - {name: info, mountPath: /etc/info}
    - {name: all, mountPath: /etc/all}
`

func mode(m int32) *int32 { return &m }

func TestConfigConsumptionConverted(t *testing.T) {
	p := decodeOne(t, configPod).Pod
	wantVolumes := []cluster.Volume{
		{Name: "cfg", ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app-config",
				Items: []cluster.KeyToPath{{Key: "app.conf", Path: "conf/app.conf", Mode: mode(0o600)}}, Optional: true},
			DefaultMode: 0o644}},
		{Name: "creds", Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "db-pass"}, DefaultMode: 0o400}},
		{Name: "info", DownwardAPI: &cluster.DownwardAPIVolumeSource{DefaultMode: 0o644, Items: []cluster.DownwardAPIFile{
			{Path: "labels", FieldRef: &cluster.FieldRef{FieldPath: "metadata.labels"}},
			{Path: "tier", FieldRef: &cluster.FieldRef{FieldPath: "metadata.labels['tier']"}},
			{Path: "mem", ResourceFieldRef: &cluster.ResourceFieldRef{ContainerName: "app", Resource: "limits.memory", Divisor: 1 << 20}},
		}}},
		{Name: "all", Projected: &cluster.ProjectedVolumeSource{DefaultMode: 0o440, Sources: []cluster.VolumeProjection{
			{ConfigMap: &cluster.ConfigMapProjection{Name: "app-config", Items: []cluster.KeyToPath{{Key: "a", Path: "a"}}}},
			{Secret: &cluster.SecretProjection{Name: "db-pass", Optional: true}},
			{DownwardAPI: &cluster.DownwardAPIProjection{Items: []cluster.DownwardAPIFile{{Path: "name", FieldRef: &cluster.FieldRef{FieldPath: "metadata.name"}}}}},
		}}},
	}
	if !reflect.DeepEqual(p.Spec.Volumes, wantVolumes) {
		t.Errorf("volumes:\n got %s\nwant %s", yamlString(t, p.Spec.Volumes), yamlString(t, wantVolumes))
	}
	c := p.Spec.Containers[0]
	wantEnv := []cluster.EnvVar{
		{Name: "LITERAL", Value: "x"},
		{Name: "LEVEL", ValueFrom: &cluster.EnvVarSource{ConfigMapKeyRef: &cluster.KeyRef{Name: "app-config", Key: "level"}}},
		{Name: "PASSWORD", ValueFrom: &cluster.EnvVarSource{SecretKeyRef: &cluster.KeyRef{Name: "db-pass", Key: "password", Optional: true}}},
		{Name: "POD_IP", ValueFrom: &cluster.EnvVarSource{FieldRef: &cluster.FieldRef{FieldPath: "status.podIP"}}},
		{Name: "CPU_MILLIS", ValueFrom: &cluster.EnvVarSource{ResourceFieldRef: &cluster.ResourceFieldRef{Resource: "requests.cpu", Divisor: 1}}},
		{Name: "SCRATCH_GB", ValueFrom: &cluster.EnvVarSource{ResourceFieldRef: &cluster.ResourceFieldRef{Resource: "limits.ephemeral-storage", Divisor: 1e9}}},
	}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env:\n got %s\nwant %s", yamlString(t, c.Env), yamlString(t, wantEnv))
	}
	wantFrom := []cluster.EnvFromSource{
		{ConfigMapRef: &cluster.ObjectRef{Name: "app-config"}},
		{Prefix: "DB_", SecretRef: &cluster.ObjectRef{Name: "db-pass", Optional: true}},
	}
	if !reflect.DeepEqual(c.EnvFrom, wantFrom) {
		t.Errorf("envFrom:\n got %s\nwant %s", yamlString(t, c.EnvFrom), yamlString(t, wantFrom))
	}
	if p.Spec.ServiceLinks() {
		t.Error("enableServiceLinks: false was lost")
	}
	// Clone copies all of it, deeply.
	cl := p.Clone()
	if !reflect.DeepEqual(cl.Spec, p.Spec) {
		t.Error("Clone differs")
	}
	cl.Spec.Volumes[0].ConfigMap.Items[0].Path = "changed"
	cl.Spec.Containers[0].Env[1].ValueFrom.ConfigMapKeyRef.Key = "changed"
	if p.Spec.Volumes[0].ConfigMap.Items[0].Path == "changed" || p.Spec.Containers[0].Env[1].ValueFrom.ConfigMapKeyRef.Key == "changed" {
		t.Error("Clone shares config sources with the original")
	}
}

// TestConfigConsumptionRoundTrip: `get -o yaml` of such a pod applies
// again to the same pod.
func TestConfigConsumptionRoundTrip(t *testing.T) {
	for name, in := range map[string]string{
		"every source":     configPod,
		"service links on": strings.Replace(configPod, "enableServiceLinks: false", "enableServiceLinks: true", 1),
		"default":          strings.Replace(configPod, "  enableServiceLinks: false\n", "", 1),
	} {
		t.Run(name, func(t *testing.T) {
			first := decodeOne(t, in)
			out, err := yaml.Marshal(PodToK8s(first.Pod))
			if err != nil {
				t.Fatal(err)
			}
			second := decodeOne(t, string(out))
			first.Pod.Spec.NodeSelector, second.Pod.Spec.NodeSelector = nil, nil
			if !reflect.DeepEqual(first.Pod.Spec, second.Pod.Spec) {
				t.Errorf("spec changed:\n%s\n%s\n%s", yamlString(t, first.Pod.Spec), yamlString(t, second.Pod.Spec), out)
			}
			for _, want := range []string{"defaultMode: 420", "divisor: 1Mi", "divisor: 1m", "divisor: 1G", "apiVersion: v1\n          fieldPath: metadata.labels"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
	// Kubernetes' default is stored as nil, so templates applied before the
	// field existed keep their hash.
	if p := decodeOne(t, strings.Replace(configPod, "enableServiceLinks: false", "enableServiceLinks: true", 1)).Pod; p.Spec.EnableServiceLinks != nil {
		t.Errorf("enableServiceLinks: true stored as %v, want nil", *p.Spec.EnableServiceLinks)
	}
}

func yamlString(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigConsumptionErrors(t *testing.T) {
	pod := func(podFields, ctrFields string) string { return secPod(podFields, ctrFields) }
	const at = `c.yaml: document 1 (Pod "p", line `
	tests := []struct{ name, in, want string }{
		{"value and valueFrom", pod("", "env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom: may not be set when value is not empty`},
		{"two sources", pod("", "env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.name}, configMapKeyRef: {name: c, key: k}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom: needs exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef`},
		{"no source", pod("", "env: [{name: A, valueFrom: {}}]"),
			at + `8): spec.containers[0].env[0].valueFrom: needs exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef`},
		{"unknown field path", pod("", "env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: "spec.hostname" is not supported (metadata.name, metadata.namespace, metadata.uid, spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP, status.podIPs, metadata.labels['KEY'], metadata.annotations['KEY'])`},
		{"all labels in an env var", pod("", "env: [{name: A, valueFrom: {fieldRef: {fieldPath: metadata.labels}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: "metadata.labels" is not supported (metadata.name, metadata.namespace, metadata.uid, spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP, status.podIPs, metadata.labels['KEY'], metadata.annotations['KEY'])`},
		{"field ref apiVersion", pod("", "env: [{name: A, valueFrom: {fieldRef: {apiVersion: v2, fieldPath: metadata.name}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.fieldRef.apiVersion: "v2" is not supported (v1)`},
		{"unknown resource", pod("", "env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.resourceFieldRef.resource: "limits.gpu" is not supported (limits.cpu, limits.memory, limits.ephemeral-storage, requests.cpu, requests.memory, requests.ephemeral-storage)`},
		{"cpu divisor", pod("", "env: [{name: A, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1Mi}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: "1Mi" is not a valid divisor for limits.cpu (1m, 1)`},
		{"resource of a container the pod lacks", pod("", "env: [{name: A, valueFrom: {resourceFieldRef: {containerName: web, resource: limits.cpu}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: "web" is not a container of this pod`},
		{"bad key", pod("", "env: [{name: A, valueFrom: {configMapKeyRef: {name: c, key: 'a b'}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.configMapKeyRef.key: "a b" is invalid: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`},
		{"secret without name", pod("", "env: [{name: A, valueFrom: {secretKeyRef: {key: k}}}]"),
			at + `8): spec.containers[0].env[0].valueFrom.secretKeyRef.name: required`},
		{"envFrom with both", pod("", "envFrom: [{configMapRef: {name: a}, secretRef: {name: b}}]"),
			at + `8): spec.containers[0].envFrom[0]: needs exactly one of configMapRef and secretRef`},
		{"envFrom bad prefix", pod("", "envFrom: [{prefix: '1=', configMapRef: {name: a}}]"),
			at + `8): spec.containers[0].envFrom[0].prefix: "1=" is invalid: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`},
		{"absolute item path", pod("volumes: [{name: v, configMap: {name: c, items: [{key: k, path: /etc/x}]}}]", ""),
			at + `5): spec.volumes[0].configMap.items[0].path: "/etc/x" must be a relative path`},
		{"item path with ..", pod("volumes: [{name: v, secret: {secretName: s, items: [{key: k, path: a/../../x}]}}]", ""),
			at + `5): spec.volumes[0].secret.items[0].path: "a/../../x" must not contain '..'`},
		{"reserved item path", pod("volumes: [{name: v, configMap: {name: c, items: [{key: k, path: ..data}]}}]", ""),
			at + `5): spec.volumes[0].configMap.items[0].path: "..data" must not start with '..'`},
		{"item path naming no file", pod("volumes: [{name: v, configMap: {name: c, items: [{key: k, path: a/..}]}}]", ""),
			at + `5): spec.volumes[0].configMap.items[0].path: "a/.." must not contain '..'`},
		{"item path .", pod("volumes: [{name: v, configMap: {name: c, items: [{key: k, path: ./.}]}}]", ""),
			at + `5): spec.volumes[0].configMap.items[0].path: "./." names no file`},
		{"mode too large", pod("volumes: [{name: v, configMap: {name: c, defaultMode: 1000}}]", ""),
			at + `5): spec.volumes[0].configMap.defaultMode: 1000 must be between 0 and 0777 (octal) or 511 (decimal)`},
		{"volume field path", pod("volumes: [{name: v, downwardAPI: {items: [{path: ip, fieldRef: {fieldPath: status.podIP}}]}}]", ""),
			at + `5): spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: "status.podIP" is not supported (metadata.name, metadata.namespace, metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'], metadata.annotations['KEY'])`},
		{"volume resource without container", pod("volumes: [{name: v, downwardAPI: {items: [{path: m, resourceFieldRef: {resource: limits.memory}}]}}]", ""),
			at + `5): spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: required in a volume`},
		{"projected duplicate path", pod("volumes: [{name: v, projected: {sources: [{configMap: {name: c, items: [{key: k, path: x}]}}, {secret: {name: s, items: [{key: k, path: x}]}}]}}]", ""),
			at + `5): spec.volumes[0].projected.sources[1].secret.items[0].path: "x" is used twice in this volume`},
		{"projected token", pod("volumes: [{name: v, projected: {sources: [{serviceAccountToken: {path: token}}]}}]", ""),
			at + `5): spec.volumes[0].projected.sources[0].serviceAccountToken: not supported by Shoal (Shoal has no API tokens for pods: the Shoal API is not for pods to call)`},
		{"two volume sources", pod("volumes: [{name: v, emptyDir: {}, configMap: {name: c}}]", ""),
			at + `5): spec.volumes[0]: may have only one source (emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI or projected)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in), "c.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}
