package manifest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// deploy is a valid Deployment; tests splice changes into it. Line numbers
// in the expected errors below count from its first line.
const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: nginx:1.25
        resources:
          limits:
            memory: 64Mi
`

func TestDecodeErrors(t *testing.T) {
	// Each case replaces old with new in deploy (or uses whole when set)
	// and expects exactly these errors, one per line.
	tests := []struct {
		name     string
		old, new string
		whole    string
		want     string
	}{
		{name: "unknown field", old: "        image: nginx:1.25\n", new: "        image: nginx:1.25\n        imagePullSecret: x\n",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].imagePullSecret: unknown field`},
		{name: "field names are case-sensitive", old: "        image:", new: "        Image:",
			want: `web.yaml: document 1 (Deployment "web", line 17): spec.template.spec.containers[0].Image: unknown field`},
		{name: "bad quantity", old: "64Mi", new: "12XB",
			want: `web.yaml: document 1 (Deployment "web", line 20): spec.template.spec.containers[0].resources.limits.memory: "12XB" is not a valid quantity`},
		{name: "wrong type", old: "replicas: 2", new: "replicas: two",
			want: `web.yaml: document 1 (Deployment "web", line 6): spec.replicas: expected an integer, got a string ("two")`},
		{name: "missing image", old: "        image: nginx:1.25\n", new: "        image: nginx:1.25\n      - name: sidecar\n",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[1].image: required`},
		{name: "unsupported field", old: "    spec:\n", new: "    spec:\n      affinity:\n        nodeAffinity: {}\n      schedulingGates: [{name: x}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 17): spec.template.spec.schedulingGates: not supported by Shoal`},
		{name: "pod anti-affinity weight and topologyKey", old: "    spec:\n", new: "    spec:\n      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, podAffinityTerm: {labelSelector: {matchLabels: {app: web}}}}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 17): spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: 101 must be between 1 and 100` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 17): spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: required: a node label key such as kubernetes.io/hostname or topology.kubernetes.io/zone`},
		{name: "pod affinity selector operator", old: "    spec:\n", new: "    spec:\n      affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: zone, labelSelector: {matchExpressions: [{key: app, operator: Gt, values: [\"1\"]}]}}]}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator: "Gt" is not supported (In, NotIn, Exists or DoesNotExist)`},
		{name: "pod affinity namespaceSelector values", old: "    spec:\n", new: "    spec:\n      affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: zone, labelSelector: {}, namespaceSelector: {matchExpressions: [{key: team, operator: Exists, values: [a]}]}}]}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector.matchExpressions[0].values: must be empty for operator Exists`},
		{name: "pod affinity matchLabelKeys in selector", old: "    spec:\n", new: "    spec:\n      affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: zone, labelSelector: {matchLabels: {app: web}}, matchLabelKeys: [app], mismatchLabelKeys: [app]}]}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys[0]: "app" is also in labelSelector` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].mismatchLabelKeys[0]: "app" is also in labelSelector` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].mismatchLabelKeys: "app" is also in matchLabelKeys`},
		{name: "topology spread values", old: "    spec:\n", new: "    spec:\n      topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: Maybe, minDomains: 2, nodeTaintsPolicy: Sometimes}, {maxSkew: 1, whenUnsatisfiable: ScheduleAnyway}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.topologySpreadConstraints[0].maxSkew: 0 must be greater than zero` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable: "Maybe" is not supported (DoNotSchedule or ScheduleAnyway)` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.topologySpreadConstraints[0].minDomains: may only be set with whenUnsatisfiable DoNotSchedule` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.topologySpreadConstraints[0].nodeTaintsPolicy: "Sometimes" is not supported (Honor or Ignore)` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.topologySpreadConstraints[1].topologyKey: required: a node label key such as topology.kubernetes.io/zone`},
		{name: "node affinity operator", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: Near, values: [a]}]}]}}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: "Near" is not supported (In, NotIn, Exists, DoesNotExist, Gt or Lt)`},
		{name: "node affinity In without values", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In}]}]}}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: required for operator In`},
		{name: "node affinity Exists with values", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: Exists, values: [a]}]}]}}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: must be empty for operator Exists`},
		{name: "node affinity Gt not a number", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: cores, operator: Gt, values: [many]}]}]}}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]: "many" must be an integer for operator Gt`},
		{name: "node affinity matchFields key", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchFields: [{key: metadata.uid, operator: In, values: [a]}]}]}}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key: "metadata.uid" is not supported (only metadata.name)`},
		{name: "node affinity weight", old: "    spec:\n", new: "    spec:\n      affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 0, preference: {matchExpressions: [{key: zone, operator: Exists}]}}]}}\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: 0 must be between 1 and 100`},
		{name: "every unsupported field, in file order", old: "    spec:\n", new: "    spec:\n      schedulerName: x\n      hostNetwork: false\n      securityContext: {}\n      priorityClassName: high\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.schedulerName: not supported by Shoal` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.priorityClassName: not supported by Shoal`},
		{name: "pointer to false is set", old: "    spec:\n", new: "    spec:\n      hostUsers: false\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.hostUsers: not supported by Shoal`},
		{name: "matchExpressions", old: "      app: web\n  template", new: "      app: web\n    matchExpressions: [{key: a, operator: Exists}]\n  template",
			want: `web.yaml: document 1 (Deployment "web", line 10): spec.selector.matchExpressions: not supported by Shoal (use matchLabels)`},
		{name: "toleration operator", old: "    spec:\n", new: "    spec:\n      tolerations: [{key: gpu, operator: Is}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.tolerations[0].operator: "Is" is not supported (Equal or Exists)`},
		{name: "toleration value with Exists", old: "    spec:\n", new: "    spec:\n      tolerations: [{key: gpu, operator: Exists, value: x}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.tolerations[0].value: must be empty when operator is Exists`},
		{name: "tolerationSeconds without NoExecute", old: "    spec:\n", new: "    spec:\n      tolerations: [{key: gpu, effect: NoSchedule, tolerationSeconds: 5}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.tolerations[0].tolerationSeconds: needs effect NoExecute`},
		{name: "toleration effect", old: "    spec:\n", new: "    spec:\n      tolerations: [{operator: Exists, effect: NoRun}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.tolerations[0].effect: "NoRun" is not supported (NoSchedule, PreferNoSchedule or NoExecute)`},
		{name: "toleration without key needs Exists", old: "    spec:\n", new: "    spec:\n      tolerations: [{value: x}]\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.tolerations[0].operator: must be Exists when key is empty`},
		{name: "valueFrom without a key", old: "        resources:", new: "        env:\n        - name: PW\n          valueFrom: {secretKeyRef: {name: s}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 20): spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key: required`},
		{name: "template annotation key", old: "        app: web\n    spec", new: "        app: web\n      annotations: {\"a b\": c}\n    spec",
			want: `web.yaml: document 1 (Deployment "web", line 14): spec.template.metadata.annotations[a b]: "a b" is invalid: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		{name: "negative revisionHistoryLimit", old: "  replicas: 2\n", new: "  replicas: 2\n  revisionHistoryLimit: -1\n",
			want: `web.yaml: document 1 (Deployment "web", line 7): spec.revisionHistoryLimit: -1 must be 0 or more`},
		{name: "minReadySeconds", old: "  replicas: 2\n", new: "  replicas: 2\n  minReadySeconds: -1\n",
			want: `web.yaml: document 1 (Deployment "web", line 7): spec.minReadySeconds: -1 must be 0 or more`},
		{name: "unknown kind", old: "kind: Deployment", new: "kind: VerticalPodAutoscaler",
			want: `web.yaml: document 1 (VerticalPodAutoscaler "web", line 1): unknown kind "VerticalPodAutoscaler" (Shoal supports Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Service, ConfigMap, Secret, Namespace, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, PodDisruptionBudget, PersistentVolumeClaim, HorizontalPodAutoscaler, Job, CronJob)`},
		{name: "missing kind", old: "kind: Deployment\n", new: "",
			want: `web.yaml: document 1 (line 1): kind: required (Shoal supports Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Service, ConfigMap, Secret, Namespace, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, PodDisruptionBudget, PersistentVolumeClaim, HorizontalPodAutoscaler, Job, CronJob)`},
		{name: "wrong apiVersion", old: "apps/v1", new: "extensions/v1beta1",
			want: `web.yaml: document 1 (Deployment "web", line 1): apiVersion: "extensions/v1beta1" is not supported for Deployment (Shoal supports apps/v1)`},
		{name: "broken YAML", old: "  replicas: 2\n", new: "  replicas: 2\n selector: x\n",
			want: `web.yaml: document 1 (line 6): invalid YAML: did not find expected key`},
		{name: "broken YAML in a later document", whole: "---\n# first\n" + deploy + "---\nkind: Service\n  bad: [\n",
			want: `web.yaml: document 2 (line 25): invalid YAML: mapping values are not allowed in this context`},
		{name: "duplicate key", old: "  replicas: 2\n", new: "  replicas: 2\n  replicas: 3\n",
			want: `web.yaml: document 1 (line 7): invalid YAML: key "replicas" already set in map`},
		{name: "separator with content", whole: deploy + "--- kind: Pod\n",
			want: `web.yaml: line 21: invalid YAML: content after the document separator: "--- kind: Pod"`},
		{name: "not an object", whole: "- a\n- b\n",
			want: `web.yaml: document 1 (line 1): expected an object (a Kubernetes manifest), got a list`},
		{name: "duplicate objects", whole: deploy + "---\n" + deploy,
			want: `web.yaml: document 2 (Deployment "web", line 22): Deployment "web" in namespace "default" is defined twice: also in web.yaml: document 1 (line 1)`},
		{name: "selector does not match", old: "        app: web\n    spec", new: "        app: other\n    spec",
			want: `web.yaml: document 1 (Deployment "web", line 12): spec.template.metadata.labels: do not match spec.selector.matchLabels map[app:web]: the workload would never find its pods`},
		{name: "invalid name", old: "name: web", new: "name: Web_1",
			want: `web.yaml: document 1 (Deployment "Web_1", line 4): metadata.name: "Web_1" is invalid: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{name: "restartPolicy in a workload", old: "    spec:\n", new: "    spec:\n      restartPolicy: OnFailure\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.restartPolicy: "OnFailure" is not allowed in a workload template (only Always)`},
		{name: "mount of an unknown volume", old: "        resources:", new: "        volumeMounts: [{name: data, mountPath: /data}]\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].volumeMounts[0].name: "data" is not a volume of the pod (spec.volumes or volumeClaimTemplates)`},
		{name: "port out of range", old: "        resources:", new: "        ports: [{containerPort: 70000}]\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].ports[0].containerPort: 70000 is not a valid port (1-65535)`},
		{name: "duplicate container names", old: "        image: nginx:1.25\n", new: "        image: nginx:1.25\n      - name: app\n        image: busybox\n",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[1].name: "app" is used by two containers of the pod`},
		{name: "unsupported resource", old: "memory: 64Mi", new: "hugepages-2Mi: 1Gi",
			want: `web.yaml: document 1 (Deployment "web", line 20): spec.template.spec.containers[0].resources.limits.hugepages-2Mi: resource "hugepages-2Mi" is not supported by Shoal (cpu, memory, ephemeral-storage, nvidia.com/gpu)`},
		{name: "ephemeral-storage request over limit", old: "memory: 64Mi", new: "ephemeral-storage: 1Gi\n          requests:\n            ephemeral-storage: 2Gi",
			want: `web.yaml: document 1 (Deployment "web", line 22): spec.template.spec.containers[0].resources.requests.ephemeral-storage: 2Gi must be less than or equal to the ephemeral-storage limit (1Gi)`},
		{name: "grpc probe port out of range", old: "        resources:", new: "        livenessProbe: {grpc: {port: 0}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].livenessProbe.grpc.port: 0 is not a valid port (1-65535)`},
		{name: "grpc probe port by name", old: "        resources:", new: "        livenessProbe: {grpc: {port: grpc}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].livenessProbe.grpc.port: expected an integer, got a string ("grpc")`},
		{name: "probe with two handlers", old: "        resources:", new: "        readinessProbe: {grpc: {port: 9090}, exec: {command: [x]}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].readinessProbe: needs exactly one of exec, httpGet, tcpSocket and grpc`},
		{name: "hook without handler", old: "        resources:", new: "        lifecycle: {preStop: {}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].lifecycle.preStop: needs exactly one of exec, httpGet, sleep and tcpSocket`},
		{name: "hook sleeps past the grace period", old: "        resources:", new: "        lifecycle: {preStop: {sleep: {seconds: 31}}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds: 31 must be between 0 and terminationGracePeriodSeconds (30)`},
		{name: "hook exec without command", old: "        resources:", new: "        lifecycle: {postStart: {exec: {command: []}}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].lifecycle.postStart.exec.command: required`},
		{name: "hook on an init container", old: "      containers:", new: "      initContainers:\n      - name: init\n        image: busybox\n        lifecycle: {postStart: {exec: {command: [x]}}}\n      containers:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.initContainers[0].lifecycle: may only be set on sidecar init containers (restartPolicy: Always)`},
		{name: "stopSignal", old: "        resources:", new: "        lifecycle: {stopSignal: SIGINT}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].lifecycle.stopSignal: not supported by Shoal`},
		{name: "GPU request without limit", old: "          limits:\n            memory: 64Mi", new: "          requests:\n            nvidia.com/gpu: 1",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: required when requests set it: GPUs are set in limits (the request equals the limit)`},
		{name: "fractional GPU", old: "memory: 64Mi", new: "nvidia.com/gpu: 500m",
			want: `web.yaml: document 1 (Deployment "web", line 20): spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: "500m" must be a whole number of GPUs`},
		{name: "request over limit", old: "          limits:", new: "          requests: {memory: 1Gi}\n          limits:",
			want: `web.yaml: document 1 (Deployment "web", line 19): spec.template.spec.containers[0].resources.requests.memory: 1Gi must be less than or equal to the memory limit (64Mi)`},
		{name: "negative quantity", old: "memory: 64Mi", new: "memory: -1Mi",
			want: `web.yaml: document 1 (Deployment "web", line 20): spec.template.spec.containers[0].resources.limits.memory: "-1Mi" must be 0 or more`},
		{name: "probe with a port name the container lacks", old: "        resources:", new: "        readinessProbe: {httpGet: {port: http}}\n        resources:",
			want: `web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].readinessProbe.httpGet.port: "http" is not the name of a port of this container`},
		{name: "unsupported fields and bad values in one pass",
			whole: strings.Replace(strings.Replace(deploy, "    spec:\n", "    spec:\n      schedulerName: x\n", 1), "memory: 64Mi", "hugepages-2Mi: 1Gi", 1),
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.schedulerName: not supported by Shoal` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 21): spec.template.spec.containers[0].resources.limits.hugepages-2Mi: resource "hugepages-2Mi" is not supported by Shoal (cpu, memory, ephemeral-storage, nvidia.com/gpu)`},
		{name: "unknown fields, wrong types and bad values in one pass",
			whole: strings.Replace(strings.Replace(strings.Replace(deploy, "replicas: 2", "replicas: two", 1),
				"        image: nginx:1.25\n", "        image: nginx:1.25\n        imagePullSecret: x\n        ports: [{containerPort: 70000}]\n", 1),
				"64Mi", "12XB", 1),
			want: `web.yaml: document 1 (Deployment "web", line 6): spec.replicas: expected an integer, got a string ("two")` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.containers[0].imagePullSecret: unknown field` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 19): spec.template.spec.containers[0].ports[0].containerPort: 70000 is not a valid port (1-65535)` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 22): spec.template.spec.containers[0].resources.limits.memory: "12XB" is not a valid quantity`},
		{name: "a removed value is not also missing", old: "      containers:\n      - name: app\n        image: nginx:1.25\n        resources:\n          limits:\n            memory: 64Mi\n", new: "      containers: app\n",
			want: `web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.containers: expected a list, got a string ("app")`},
		{name: "several problems at once", old: "  replicas: 2", new: "  replicas: -1\n  strategy: {type: Sideways}",
			want: `web.yaml: document 1 (Deployment "web", line 6): spec.replicas: -1 must be 0 or more` + "\n" +
				`web.yaml: document 1 (Deployment "web", line 7): spec.strategy.type: "Sideways" is not supported (RollingUpdate or Recreate)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.whole
			if in == "" {
				if !strings.Contains(deploy, tt.old) {
					t.Fatalf("bad test: %q not in deploy", tt.old)
				}
				in = strings.Replace(deploy, tt.old, tt.new, 1)
			}
			objs, err := Decode([]byte(in), "web.yaml")
			if err == nil {
				t.Fatalf("Decode succeeded (%d objects), want error\n%s", len(objs), tt.want)
			}
			if objs != nil {
				t.Errorf("Decode returned objects with an error")
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var me *Error
			if !errors.As(err, &me) {
				t.Errorf("error is not a *manifest.Error")
			}
		})
	}
}

func TestDecodeServiceAndPodErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"cluster IP", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: fd00::1\n  clusterIPs: [fd00::1, 10.43.0.1]\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
			`s.yaml: document 1 (Service "db", line 5): spec.clusterIP: "fd00::1" is not valid (None, or an IPv4 address of the cluster's service CIDR)` + "\n" +
				`s.yaml: document 1 (Service "db", line 6): spec.clusterIPs: ["fd00::1" "10.43.0.1"]: must be [spec.clusterIP] (Shoal's Services are IPv4 single-stack)`},
		{"headless node port", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  type: NodePort\n  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
			`s.yaml: document 1 (Service "db", line 6): spec.clusterIP: may not be None when spec.type is NodePort: node ports lead to the virtual IP's pods`},
		{"session affinity", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  externalTrafficPolicy: Local\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
			`s.yaml: document 1 (Service "db", line 6): spec.sessionAffinity: ClientIP needs a virtual IP: a headless Service's clients connect to the pods themselves` + "\n" +
				`s.yaml: document 1 (Service "db", line 7): spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is outside 1-86400` + "\n" +
				`s.yaml: document 1 (Service "db", line 8): spec.externalTrafficPolicy: may only be Local when spec.type is NodePort or LoadBalancer`},
		{"ExternalName", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  type: ExternalName\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
			`s.yaml: document 1 (Service "db", line 5): spec.type: "ExternalName" is not supported by Shoal (ClusterIP, NodePort or LoadBalancer)`},
		{"LoadBalancer refusals", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  type: LoadBalancer\n  loadBalancerIP: 192.0.2.1\n" +
			"  loadBalancerSourceRanges: [10.0.0.0/8]\n  loadBalancerClass: x\n  externalTrafficPolicy: Both\n  sessionAffinity: Sometimes\n" +
			"  allocateLoadBalancerNodePorts: false\n  selector: {app: db}\n  ports: [{port: 5432, nodePort: 8080, appProtocol: \"bad proto\"}]\n",
			`s.yaml: document 1 (Service "db", line 6): spec.loadBalancerIP: not supported by Shoal (a LoadBalancer is published on every ready node's address)` + "\n" +
				`s.yaml: document 1 (Service "db", line 7): spec.loadBalancerSourceRanges: not supported by Shoal (Shoal does not filter a LoadBalancer's clients)` + "\n" +
				`s.yaml: document 1 (Service "db", line 8): spec.loadBalancerClass: not supported by Shoal (Shoal publishes LoadBalancer services itself, on every ready node's address)` + "\n" +
				`s.yaml: document 1 (Service "db", line 9): spec.externalTrafficPolicy: "Both" is not valid (Cluster or Local)` + "\n" +
				`s.yaml: document 1 (Service "db", line 10): spec.sessionAffinity: "Sometimes" is not valid (None or ClientIP)` + "\n" +
				`s.yaml: document 1 (Service "db", line 11): spec.allocateLoadBalancerNodePorts: false is not supported by Shoal: a LoadBalancer is published through its node ports on every node` + "\n" +
				`s.yaml: document 1 (Service "db", line 13): spec.ports[0].appProtocol: "bad proto" is invalid: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')` + "\n" +
				`s.yaml: document 1 (Service "db", line 13): spec.ports[0].nodePort: 8080 is outside the node port range (30000-32767)`},
		{"nodePort of a ClusterIP service", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  selector: {app: db}\n  ports: [{port: 5432, nodePort: 30001}]\n",
			`s.yaml: document 1 (Service "db", line 6): spec.ports[0].nodePort: may only be set when spec.type is NodePort or LoadBalancer`},
		{"no selector", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  ports: [{port: 5432}]\n",
			`s.yaml: document 1 (Service "db", line 4): spec.selector: required (Shoal has no Endpoints objects: a Service finds its pods by selector)`},
		{"unnamed ports", "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  selector: {app: db}\n  ports:\n  - port: 1\n  - port: 2\n",
			`s.yaml: document 1 (Service "db", line 7): spec.ports[0].name: required when a Service has more than one port` + "\n" +
				`s.yaml: document 1 (Service "db", line 8): spec.ports[1].name: required when a Service has more than one port`},
		{"pod nodeName", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: n1\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 5): spec.nodeName: not supported by Shoal (use nodeSelector)`},
		{"pod PVC readOnly", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: x, readOnly: true}}]\n",
			`s.yaml: document 1 (Pod "p", line 6): spec.volumes[0].persistentVolumeClaim.readOnly: not supported by Shoal`},
		{"pod PVC without a name", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n  volumes: [{name: d, persistentVolumeClaim: {claimName: ''}}]\n",
			`s.yaml: document 1 (Pod "p", line 6): spec.volumes[0].persistentVolumeClaim.claimName: required`},
		{"probe on an init container", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers: [{name: i, image: busybox, readinessProbe: {exec: {command: ['true']}}}]\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 5): spec.initContainers[0].readinessProbe: may only be set on sidecar init containers (restartPolicy: Always)`},
		{"claim template named like a volume", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: busybox}]\n      volumes: [{name: data, emptyDir: {}}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteMany], resources: {requests: {storage: 1Gi}}}\n",
			`s.yaml: document 1 (StatefulSet "db", line 10): spec.template.spec.volumes[0]: volume "data" has the name of spec.volumeClaimTemplates[0]: rename one of them` + "\n" +
				`s.yaml: document 1 (StatefulSet "db", line 13): spec.volumeClaimTemplates[0].spec.accessModes[0]: "ReadWriteMany" is not supported by Shoal (ReadWriteOnce or ReadWriteOncePod: a claim is a directory on one node)`},
		{"imagePullSecrets", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n  imagePullSecrets:\n  - name: Reg_Cred\n  - {}\n  - name: ok\n",
			`s.yaml: document 1 (Pod "p", line 7): spec.imagePullSecrets[0].name: "Reg_Cred" is invalid: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')` + "\n" +
				`s.yaml: document 1 (Pod "p", line 8): spec.imagePullSecrets[1].name: required`},
		{"imagePullSecrets fields", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n  imagePullSecrets: [{name: a, namespace: b}]\n",
			`s.yaml: document 1 (Pod "p", line 6): spec.imagePullSecrets[0].namespace: unknown field`},
		{"dnsPolicy None without nameservers", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  dnsPolicy: None\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 4): spec.dnsConfig: required when dnsPolicy is None (at least one nameserver)`},
		{"bad dns", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  dnsPolicy: Cluster\n  dnsConfig:\n    nameservers: [1.1.1.1, 8.8.8.8, 9.9.9.9, dns.example]\n    searches: [a_b]\n    options: [{value: x}]\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 5): spec.dnsPolicy: "Cluster" is not valid (ClusterFirst, ClusterFirstWithHostNet, Default or None)` + "\n" +
				`s.yaml: document 1 (Pod "p", line 7): spec.dnsConfig.nameservers: 4 nameservers: at most 3` + "\n" +
				`s.yaml: document 1 (Pod "p", line 7): spec.dnsConfig.nameservers[3]: "dns.example" is not an IP address` + "\n" +
				`s.yaml: document 1 (Pod "p", line 8): spec.dnsConfig.searches[0]: "a_b" is invalid: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')` + "\n" +
				`s.yaml: document 1 (Pod "p", line 9): spec.dnsConfig.options[0].name: required`},
		{"shareProcessNamespace with hostPID", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: true\n  shareProcessNamespace: true\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 6): spec.shareProcessNamespace: may not be true with hostPID: the pod shares the node's PID namespace already`},
		{"two service account names", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  serviceAccountName: a\n  serviceAccount: b\n  containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (Pod "p", line 6): spec.serviceAccount: "b" differs from serviceAccountName "a" (serviceAccount is its deprecated name: drop it)`},
		{"OnDelete", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {a: b}}\n  updateStrategy: {type: OnDelete}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: busybox}]\n",
			`s.yaml: document 1 (StatefulSet "db", line 6): spec.updateStrategy.type: "OnDelete" is not supported by Shoal (RollingUpdate only)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in), "s.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestDecodeErrorsCapped: a document with more problems than MaxErrors
// reports the first ones, in file order, and counts the rest.
func TestDecodeErrorsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n")
	const extra = MaxErrors + 7
	for i := range extra {
		fmt.Fprintf(&b, "    unknown%02d: x\n", i)
	}
	_, err := Decode([]byte(b.String()), "p.yaml")
	if err == nil {
		t.Fatal("Decode succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxErrors+1 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), MaxErrors+1, err)
	}
	if want := `p.yaml: document 1 (Pod "p", line 8): spec.containers[0].unknown00: unknown field`; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if want := `p.yaml: document 1 (Pod "p", line 1): and 7 more problems`; lines[MaxErrors] != want {
		t.Errorf("last line %q, want %q", lines[MaxErrors], want)
	}
}
