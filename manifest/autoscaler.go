package manifest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"shoal/cluster"
)

// A HorizontalPodAutoscaler follows Resource metrics only: the other
// types (Pods, Object, External, ContainerResource) need a custom or
// external metrics API that Shoal does not have.
var (
	scalingRulesShape = obj(map[string]*shape{
		"stabilizationWindowSeconds": leaf, "selectPolicy": leaf, "policies": leaf,
	})
	autoscalerShape = top(map[string]*shape{
		"scaleTargetRef": obj(map[string]*shape{"apiVersion": leaf, "kind": leaf, "name": leaf}),
		"minReplicas":    leaf, "maxReplicas": leaf,
		"metrics": obj(map[string]*shape{
			"type": leaf,
			"resource": obj(map[string]*shape{
				"name":   leaf,
				"target": obj(map[string]*shape{"type": leaf, "averageUtilization": leaf, "averageValue": leaf}),
			}),
		}),
		"behavior": obj(map[string]*shape{"scaleUp": scalingRulesShape, "scaleDown": scalingRulesShape}),
	})
)

// olderVersions are kinds read in an older API version too, converted
// to the version Shoal stores and prints, as Kubernetes serves them.
var olderVersions = map[string]kindInfo{
	"autoscaling/v1 HorizontalPodAutoscaler": {"autoscaling/v1", reflect.TypeFor[autoscalingv1.HorizontalPodAutoscaler](), autoscalerV1Shape,
		func(c *conv, v any) *Object { return c.autoscalerV1(v.(*autoscalingv1.HorizontalPodAutoscaler)) }},
}

var autoscalerV1Shape = top(map[string]*shape{
	"scaleTargetRef": obj(map[string]*shape{"apiVersion": leaf, "kind": leaf, "name": leaf}),
	"minReplicas":    leaf, "maxReplicas": leaf, "targetCPUUtilizationPercentage": leaf,
})

// autoscalerV1 reads autoscaling/v1: its targetCPUUtilizationPercentage
// is v2's cpu Utilization target.
func (c *conv) autoscalerV1(h *autoscalingv1.HorizontalPodAutoscaler) *Object {
	ref := h.Spec.ScaleTargetRef
	v2 := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: h.ObjectMeta, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name},
		MinReplicas:    h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas}}
	if p := h.Spec.TargetCPUUtilizationPercentage; p != nil {
		if *p < 1 {
			c.errf("spec.targetCPUUtilizationPercentage", "%d: must be at least 1", *p)
		} else {
			v2.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: p}}}}
		}
	}
	return c.autoscaler(v2)
}

// scaleTargets are the kinds an autoscaler may scale.
var scaleTargets = map[string]cluster.WorkloadKind{
	"Deployment": cluster.KindDeployment, "StatefulSet": cluster.KindStatefulSet, "ReplicaSet": cluster.KindReplicaSet,
}

func (c *conv) autoscaler(h *autoscalingv2.HorizontalPodAutoscaler) *Object {
	o := c.objectMetaOf(cluster.KindHorizontalPodAutoscaler, &h.ObjectMeta)
	a := &cluster.Autoscaler{MinReplicas: 1, MaxReplicas: h.Spec.MaxReplicas, TargetName: h.Spec.ScaleTargetRef.Name}
	ref := h.Spec.ScaleTargetRef
	if k, ok := scaleTargets[ref.Kind]; ok {
		a.TargetKind = k
	} else {
		c.errf("spec.scaleTargetRef.kind", "%q is not supported (Deployment, StatefulSet or ReplicaSet)", ref.Kind)
	}
	if ref.APIVersion != "" && ref.APIVersion != "apps/v1" {
		c.errf("spec.scaleTargetRef.apiVersion", "%q is not supported (apps/v1)", ref.APIVersion)
	}
	if ref.Name == "" {
		c.errf("spec.scaleTargetRef.name", "required")
	}
	if h.Spec.MinReplicas != nil {
		a.MinReplicas = *h.Spec.MinReplicas
		if a.MinReplicas < 1 {
			c.errf("spec.minReplicas", "%d: must be at least 1", a.MinReplicas)
		}
	}
	switch {
	case a.MaxReplicas < 1:
		c.errf("spec.maxReplicas", "required, at least 1")
	case a.MaxReplicas < a.MinReplicas:
		c.errf("spec.maxReplicas", "%d: must be at least minReplicas (%d)", a.MaxReplicas, a.MinReplicas)
	}
	seen := map[string]bool{}
	for i, m := range h.Spec.Metrics {
		p := index("spec.metrics", i)
		if am, ok := c.autoscalerMetric(p, m); ok {
			if seen[am.Resource] {
				c.errf(field(field(p, "resource"), "name"), "%q: given twice", am.Resource)
			}
			seen[am.Resource] = true
			a.Metrics = append(a.Metrics, am)
		}
	}
	if b := h.Spec.Behavior; b != nil {
		a.ScaleUp = c.scalingRules("spec.behavior.scaleUp", b.ScaleUp)
		a.ScaleDown = c.scalingRules("spec.behavior.scaleDown", b.ScaleDown)
	}
	o.Autoscaler = a
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o}
}

func (c *conv) autoscalerMetric(p string, m autoscalingv2.MetricSpec) (cluster.AutoscalerMetric, bool) {
	if m.Type != autoscalingv2.ResourceMetricSourceType {
		c.errf(field(p, "type"), "%q is not supported by Shoal (Resource only: Pods, Object, External and ContainerResource metrics need a metrics API Shoal does not have)", m.Type)
		return cluster.AutoscalerMetric{}, false
	}
	if m.Resource == nil {
		c.errf(field(p, "resource"), "required for type Resource")
		return cluster.AutoscalerMetric{}, false
	}
	out := cluster.AutoscalerMetric{Resource: string(m.Resource.Name), TargetType: string(m.Resource.Target.Type)}
	tp := field(field(p, "resource"), "target")
	switch out.Resource {
	case cluster.CPUResource, cluster.MemoryResource, cluster.GPUResource:
	default:
		c.errf(field(field(p, "resource"), "name"), "%q is not supported (cpu, memory or %s)", out.Resource, cluster.GPUResource)
		return out, false
	}
	t := m.Resource.Target
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if t.AverageUtilization == nil || *t.AverageUtilization < 1 {
			c.errf(field(tp, "averageUtilization"), "required for type Utilization, a percentage of at least 1")
			return out, false
		}
		out.AverageUtilization = *t.AverageUtilization
	case autoscalingv2.AverageValueMetricType:
		if out.Resource == cluster.GPUResource {
			c.errf(field(tp, "type"), "%s takes a Utilization target only (percent of time busy)", cluster.GPUResource)
			return out, false
		}
		if t.AverageValue == nil || t.AverageValue.Sign() <= 0 {
			c.errf(field(tp, "averageValue"), "required for type AverageValue, a quantity above 0")
			return out, false
		}
		out.AverageValue = t.AverageValue.Value()
		if out.Resource == cluster.CPUResource {
			out.AverageValue = t.AverageValue.MilliValue()
		}
	default:
		c.errf(field(tp, "type"), "%q is not supported (Utilization or AverageValue)", t.Type)
		return out, false
	}
	if t.Type != autoscalingv2.UtilizationMetricType && t.AverageUtilization != nil {
		c.errf(field(tp, "averageUtilization"), "only for type Utilization")
	}
	if t.Type != autoscalingv2.AverageValueMetricType && t.AverageValue != nil {
		c.errf(field(tp, "averageValue"), "only for type AverageValue")
	}
	return out, true
}

func (c *conv) scalingRules(p string, r *autoscalingv2.HPAScalingRules) *cluster.ScalingRules {
	if r == nil {
		return nil
	}
	out := &cluster.ScalingRules{StabilizationWindowSeconds: r.StabilizationWindowSeconds}
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		c.errf(field(p, "stabilizationWindowSeconds"), "%d: must be from 0 to 3600", *w)
	}
	if r.SelectPolicy != nil {
		out.SelectPolicy = string(*r.SelectPolicy)
		if !slices.Contains([]string{cluster.SelectMax, cluster.SelectMin, cluster.SelectDisabled}, out.SelectPolicy) {
			c.errf(field(p, "selectPolicy"), "%q is not valid (Max, Min or Disabled)", out.SelectPolicy)
		}
	}
	for i, pol := range r.Policies {
		pp := index(field(p, "policies"), i)
		if pol.Type != autoscalingv2.PodsScalingPolicy && pol.Type != autoscalingv2.PercentScalingPolicy {
			c.errf(field(pp, "type"), "%q is not valid (Pods or Percent)", pol.Type)
		}
		if pol.Value < 1 {
			c.errf(field(pp, "value"), "%d: must be at least 1", pol.Value)
		}
		if pol.PeriodSeconds < 1 || pol.PeriodSeconds > 1800 {
			c.errf(field(pp, "periodSeconds"), "%d: must be from 1 to 1800", pol.PeriodSeconds)
		}
		out.Policies = append(out.Policies, cluster.ScalingPolicy{Type: string(pol.Type), Value: pol.Value, PeriodSeconds: pol.PeriodSeconds})
	}
	return out
}

// autoscalerToK8s is a stored autoscaler as autoscaling/v2 shows it,
// with its status.
func autoscalerToK8s(o *cluster.Object, meta metav1.ObjectMeta) *autoscalingv2.HorizontalPodAutoscaler {
	out := &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: string(o.Kind)}, ObjectMeta: meta}
	a := o.Autoscaler
	if a == nil {
		return out
	}
	out.Spec = autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: string(a.TargetKind), Name: a.TargetName},
		MinReplicas:    ptr(a.MinReplicas), MaxReplicas: a.MaxReplicas,
	}
	for _, m := range a.Metrics {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.MetricTargetType(m.TargetType)}
		if m.TargetType == cluster.UtilizationTarget {
			t.AverageUtilization = ptr(m.AverageUtilization)
		} else {
			t.AverageValue = metricQuantity(m.Resource, m.AverageValue)
		}
		out.Spec.Metrics = append(out.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceName(m.Resource), Target: t}})
	}
	if a.ScaleUp != nil || a.ScaleDown != nil {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rulesToK8s(a.ScaleUp), ScaleDown: rulesToK8s(a.ScaleDown)}
	}
	if st := a.Status; st != nil {
		out.Status = autoscalerStatusToK8s(st)
	}
	return out
}

// metricQuantity is a metric's value as a Kubernetes quantity: cpu in
// millicores, memory in bytes.
func metricQuantity(res string, v int64) *resource.Quantity {
	if res == cluster.CPUResource {
		return resource.NewMilliQuantity(v, resource.DecimalSI)
	}
	return resource.NewQuantity(v, resource.BinarySI)
}

func rulesToK8s(r *cluster.ScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return nil
	}
	out := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: r.StabilizationWindowSeconds}
	if r.SelectPolicy != "" {
		out.SelectPolicy = ptr(autoscalingv2.ScalingPolicySelect(r.SelectPolicy))
	}
	for _, p := range r.Policies {
		out.Policies = append(out.Policies, autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.HPAScalingPolicyType(p.Type), Value: p.Value, PeriodSeconds: p.PeriodSeconds})
	}
	return out
}

func autoscalerStatusToK8s(st *cluster.AutoscalerStatus) autoscalingv2.HorizontalPodAutoscalerStatus {
	out := autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: st.CurrentReplicas, DesiredReplicas: st.DesiredReplicas}
	if !st.LastScaleTime.IsZero() {
		out.LastScaleTime = ptr(metav1.NewTime(st.LastScaleTime))
	}
	for _, m := range st.CurrentMetrics {
		out.CurrentMetrics = append(out.CurrentMetrics, autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceName(m.Resource), Current: autoscalingv2.MetricValueStatus{
				AverageUtilization: m.AverageUtilization, AverageValue: metricQuantity(m.Resource, m.AverageValue)}}})
	}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type),
			Status: corev1.ConditionStatus(c.Status), Reason: c.Reason, Message: c.Message, LastTransitionTime: metav1.NewTime(c.LastTransitionTime)})
	}
	return out
}

// AutoscalerTarget is the TARGETS column of `get hpa`: each metric's
// current value over its target ("45%/50%", "<unknown>/70%").
func AutoscalerTarget(a *cluster.Autoscaler) string {
	if a == nil {
		return ""
	}
	metrics := a.Metrics
	if len(metrics) == 0 {
		metrics = []cluster.AutoscalerMetric{DefaultAutoscalerMetric}
	}
	var out []string
	for _, m := range metrics {
		cur := "<unknown>"
		if a.Status != nil {
			for _, v := range a.Status.CurrentMetrics {
				if v.Resource != m.Resource {
					continue
				}
				if m.TargetType == cluster.UtilizationTarget && v.AverageUtilization != nil {
					cur = fmt.Sprintf("%d%%", *v.AverageUtilization)
				} else if m.TargetType != cluster.UtilizationTarget {
					cur = metricQuantity(m.Resource, v.AverageValue).String()
				}
			}
		}
		want := fmt.Sprintf("%d%%", m.AverageUtilization)
		if m.TargetType != cluster.UtilizationTarget {
			want = metricQuantity(m.Resource, m.AverageValue).String()
		}
		label := ""
		if m.Resource != cluster.CPUResource {
			label = m.Resource + ": "
		}
		out = append(out, label+cur+"/"+want)
	}
	return strings.Join(out, ", ")
}

// DefaultAutoscalerMetric is what an autoscaler without metrics follows:
// cpu at 80% of requests, as in Kubernetes.
var DefaultAutoscalerMetric = cluster.AutoscalerMetric{Resource: cluster.CPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 80}
