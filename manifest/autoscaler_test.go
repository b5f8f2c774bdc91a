package manifest

import (
	"strings"
	"testing"

	"shoal/cluster"
)

const hpaHead = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
`

func TestAutoscalerDecode(t *testing.T) {
	objs, err := Decode([]byte(hpaHead+"  maxReplicas: 5\n"), "hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := objs[0].Generic.Autoscaler
	if a == nil || a.TargetKind != cluster.KindDeployment || a.TargetName != "web" || a.MinReplicas != 1 || a.MaxReplicas != 5 || len(a.Metrics) != 0 {
		t.Fatalf("autoscaler %+v", a)
	}
	if got := AutoscalerTarget(a); got != "<unknown>/80%" {
		t.Errorf("TARGETS %q", got)
	}
	objs, err = Decode([]byte(hpaHead+`  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 1Gi}}
  - type: Resource
    resource: {name: cpu, target: {type: AverageValue, averageValue: 250m}}
`), "hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := objs[0].Generic.Autoscaler.Metrics
	if len(m) != 2 || m[0].AverageValue != 1<<30 || m[1].AverageValue != 250 {
		t.Errorf("metrics %+v", m)
	}
}

func TestAutoscalerRefused(t *testing.T) {
	cases := []struct{ name, spec, want string }{
		{"no max", "  minReplicas: 2\n", "spec.maxReplicas: required"},
		{"max below min", "  minReplicas: 3\n  maxReplicas: 2\n", "spec.maxReplicas: 2: must be at least minReplicas (3)"},
		{"min zero", "  minReplicas: 0\n  maxReplicas: 2\n", "spec.minReplicas: 0: must be at least 1"},
		{"pods metric", "  maxReplicas: 2\n  metrics:\n  - type: Pods\n", `spec.metrics[0].type: "Pods" is not supported by Shoal (Resource only`},
		{"pods metric body", "  maxReplicas: 2\n  metrics:\n  - type: Pods\n    pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: 10}}\n", "spec.metrics[0].pods: not supported by Shoal"},
		{"external", "  maxReplicas: 2\n  metrics:\n  - type: External\n", `spec.metrics[0].type: "External" is not supported`},
		{"container resource", "  maxReplicas: 2\n  metrics:\n  - type: ContainerResource\n", `spec.metrics[0].type: "ContainerResource" is not supported`},
		{"unknown resource", "  maxReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: ephemeral-storage, target: {type: Utilization, averageUtilization: 50}}\n",
			`spec.metrics[0].resource.name: "ephemeral-storage" is not supported`},
		{"value target", "  maxReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Value, value: 1}}\n", "spec.metrics[0].resource.target.value: not supported by Shoal"},
		{"no utilization", "  maxReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization}}\n", "spec.metrics[0].resource.target.averageUtilization: required"},
		{"gpu average value", "  maxReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: nvidia.com/gpu, target: {type: AverageValue, averageValue: 1}}\n", "takes a Utilization target only"},
		{"twice", "  maxReplicas: 2\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 5}}\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 6}}\n", `spec.metrics[1].resource.name: "cpu": given twice`},
		{"select policy", "  maxReplicas: 2\n  behavior: {scaleUp: {selectPolicy: Fastest}}\n", `spec.behavior.scaleUp.selectPolicy: "Fastest" is not valid (Max, Min or Disabled)`},
		{"policy type", "  maxReplicas: 2\n  behavior: {scaleDown: {policies: [{type: Nodes, value: 1, periodSeconds: 15}]}}\n", `spec.behavior.scaleDown.policies[0].type: "Nodes" is not valid`},
		{"policy period", "  maxReplicas: 2\n  behavior: {scaleDown: {policies: [{type: Pods, value: 1, periodSeconds: 0}]}}\n", "spec.behavior.scaleDown.policies[0].periodSeconds: 0: must be from 1 to 1800"},
		{"window", "  maxReplicas: 2\n  behavior: {scaleDown: {stabilizationWindowSeconds: 4000}}\n", "spec.behavior.scaleDown.stabilizationWindowSeconds: 4000: must be from 0 to 3600"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(hpaHead+c.spec), "hpa.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	_, err := Decode([]byte(strings.Replace(hpaHead, "kind: Deployment", "kind: DaemonSet", 1)+"  maxReplicas: 2\n"), "hpa.yaml")
	if err == nil || !strings.Contains(err.Error(), `spec.scaleTargetRef.kind: "DaemonSet" is not supported`) {
		t.Errorf("DaemonSet target: %v", err)
	}
}

// autoscaling/v1 is read as v2: targetCPUUtilizationPercentage is the
// cpu Utilization target.
func TestAutoscalerV1(t *testing.T) {
	v1 := strings.Replace(hpaHead, "autoscaling/v2", "autoscaling/v1", 1)
	objs, err := Decode([]byte(v1+"  minReplicas: 2\n  maxReplicas: 5\n  targetCPUUtilizationPercentage: 70\n"), "hpa.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := objs[0].Generic.Autoscaler
	if a.MinReplicas != 2 || a.MaxReplicas != 5 || len(a.Metrics) != 1 || a.Metrics[0].Resource != "cpu" || a.Metrics[0].AverageUtilization != 70 {
		t.Errorf("autoscaler %+v", a)
	}
	for _, c := range []struct{ spec, want string }{
		{"  maxReplicas: 5\n  targetCPUUtilizationPercentage: 0\n", "spec.targetCPUUtilizationPercentage: 0: must be at least 1"},
		{"  maxReplicas: 5\n  metrics: []\n", "spec.metrics: unknown field"},
	} {
		if _, err := Decode([]byte(v1+c.spec), "hpa.yaml"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
	if _, err := Decode([]byte(strings.Replace(hpaHead, "autoscaling/v2", "autoscaling/v2beta2", 1)+"  maxReplicas: 5\n"), "hpa.yaml"); err == nil ||
		!strings.Contains(err.Error(), `apiVersion: "autoscaling/v2beta2" is not supported for HorizontalPodAutoscaler`) {
		t.Errorf("v2beta2: %v", err)
	}
}
