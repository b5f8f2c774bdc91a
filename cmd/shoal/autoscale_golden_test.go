package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/manifest"
)

func autoscalerFixtures(now time.Time) []api.ObjectView {
	util := int32(87)
	win := int32(30)
	busy := &cluster.Object{Kind: cluster.KindHorizontalPodAutoscaler, Namespace: "default", Name: "web", UID: "uid-web", CreatedAt: now.Add(-time.Hour),
		Autoscaler: &cluster.Autoscaler{TargetKind: cluster.KindDeployment, TargetName: "web", MinReplicas: 1, MaxReplicas: 3,
			Metrics:   []cluster.AutoscalerMetric{{Resource: cluster.CPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 50}},
			ScaleDown: &cluster.ScalingRules{StabilizationWindowSeconds: &win, Policies: []cluster.ScalingPolicy{{Type: cluster.PodsScalingPolicy, Value: 1, PeriodSeconds: 10}}},
			Status: &cluster.AutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3, LastScaleTime: now.Add(-20 * time.Second),
				CurrentMetrics: []cluster.MetricValue{{Resource: cluster.CPUResource, AverageUtilization: &util, AverageValue: 87}},
				Conditions: []cluster.AutoscalerCondition{
					{Type: "AbleToScale", Status: "True", Reason: "SucceededRescale", Message: "the HPA controller was able to update the target scale to 3", LastTransitionTime: now.Add(-50 * time.Second)},
					{Type: "ScalingActive", Status: "True", Reason: "ValidMetricFound", Message: "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", LastTransitionTime: now.Add(-55 * time.Minute)},
					{Type: "ScalingLimited", Status: "False", Reason: "DesiredWithinRange", Message: "the desired count is within the acceptable range", LastTransitionTime: now.Add(-55 * time.Minute)},
				},
				Decisions: []cluster.AutoscalerDecision{
					{At: now.Add(-50 * time.Second), From: 1, To: 2, Reason: "cpu resource utilization (percentage of request) above target"},
					{At: now.Add(-20 * time.Second), From: 2, To: 3, Reason: "cpu resource utilization (percentage of request) above target"},
				}}}}
	idle := &cluster.Object{Kind: cluster.KindHorizontalPodAutoscaler, Namespace: "default", Name: "trainer", UID: "uid-trainer", CreatedAt: now.Add(-time.Minute),
		Autoscaler: &cluster.Autoscaler{TargetKind: cluster.KindStatefulSet, TargetName: "trainer", MinReplicas: 2, MaxReplicas: 8,
			Metrics: []cluster.AutoscalerMetric{
				{Resource: cluster.GPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 80},
				{Resource: cluster.MemoryResource, TargetType: cluster.AverageValueTarget, AverageValue: 1 << 30},
			}}}
	return []api.ObjectView{{Object: busy}, {Object: idle}}
}

func TestAutoscalerGolden(t *testing.T) {
	items := autoscalerFixtures(goldenNow)
	r, err := parseKind("hpa")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden, output string
		items          []api.ObjectView
	}{
		{"get-hpa", "", items},
		{"get-hpa-yaml", "yaml", items[:1]},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := show(&b, r, objectTable(cluster.KindHorizontalPodAutoscaler, tc.items, false, goldenNow), tc.output, len(tc.items) == 1); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	for i, golden := range []string{"describe-hpa", "describe-hpa-new"} {
		var b bytes.Buffer
		if err := describeObject(&b, items[i], goldenNow); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, golden, b.Bytes())
	}
}

// TestAutoscaleManifest: `autoscale` sends a manifest that Shoal accepts,
// and one it refuses with the field named.
func TestAutoscaleManifest(t *testing.T) {
	doc, err := autoscalerManifest("shop", "web", "Deployment", "web", 2, 10, 70)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Decode(doc, "autoscale")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	a := objs[0].Generic.Autoscaler
	if objs[0].Namespace != "shop" || a.TargetName != "web" || a.MinReplicas != 2 || a.MaxReplicas != 10 || len(a.Metrics) != 1 || a.Metrics[0].AverageUtilization != 70 {
		t.Errorf("autoscaler %+v", a)
	}
	doc, err = autoscalerManifest("default", "web", "Deployment", "web", 0, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if objs, err := manifest.Decode(doc, "autoscale"); err != nil || objs[0].Generic.Autoscaler.MinReplicas != 1 || len(objs[0].Generic.Autoscaler.Metrics) != 0 {
		t.Errorf("defaults: %v %+v", err, objs)
	}
	doc, _ = autoscalerManifest("default", "web", "Deployment", "web", 5, 3, 0)
	if _, err := manifest.Decode(doc, "autoscale"); err == nil || !strings.Contains(err.Error(), "spec.maxReplicas") {
		t.Errorf("max below min: %v", err)
	}
}
