package cluster

import (
	"slices"
	"time"
)

// KindHorizontalPodAutoscaler scales a Deployment, StatefulSet or
// ReplicaSet on its pods' resource usage: see Autoscaler.
const KindHorizontalPodAutoscaler ObjectKind = "HorizontalPodAutoscaler"

// Resource metric names an autoscaler may follow. GPUResource is Shoal's
// own: the share of time the pod's GPUs were busy (NVML), in percent.
const (
	CPUResource    = "cpu"
	MemoryResource = "memory"
	GPUResource    = "nvidia.com/gpu"
)

// Metric target types (autoscaling/v2).
const (
	UtilizationTarget  = "Utilization"
	AverageValueTarget = "AverageValue"
)

// Scaling policy types and policy selections (autoscaling/v2).
const (
	PodsScalingPolicy    = "Pods"
	PercentScalingPolicy = "Percent"
	SelectMax            = "Max"
	SelectMin            = "Min"
	SelectDisabled       = "Disabled"
)

// Autoscaler is a HorizontalPodAutoscaler's spec, as applied, and the
// status the leader's controller writes.
type Autoscaler struct {
	// TargetKind and TargetName name the scaled workload, in the
	// autoscaler's namespace.
	TargetKind  WorkloadKind `json:"targetKind"`
	TargetName  string       `json:"targetName"`
	MinReplicas int32        `json:"minReplicas"`
	MaxReplicas int32        `json:"maxReplicas"`
	// Metrics are Resource metrics; none means cpu at 80% (Kubernetes'
	// default).
	Metrics []AutoscalerMetric `json:"metrics,omitempty"`
	// ScaleUp and ScaleDown are behavior's rules as given; nil is
	// Kubernetes' default (see autoscale.Rules).
	ScaleUp   *ScalingRules `json:"scaleUp,omitempty"`
	ScaleDown *ScalingRules `json:"scaleDown,omitempty"`

	Status *AutoscalerStatus `json:"status,omitempty"`
}

// AutoscalerMetric is one Resource metric and its target: an average
// utilization (percent of the pods' requests; for GPUs percent busy) or an
// average value per pod (millicores for cpu, bytes for memory).
type AutoscalerMetric struct {
	Resource           string `json:"resource"`
	TargetType         string `json:"targetType"`
	AverageUtilization int32  `json:"averageUtilization,omitempty"`
	AverageValue       int64  `json:"averageValue,omitempty"`
}

// ScalingRules is behavior.scaleUp or scaleDown.
type ScalingRules struct {
	StabilizationWindowSeconds *int32          `json:"stabilizationWindowSeconds,omitempty"`
	SelectPolicy               string          `json:"selectPolicy,omitempty"`
	Policies                   []ScalingPolicy `json:"policies,omitempty"`
}

// ScalingPolicy bounds the change over PeriodSeconds: Value pods, or
// Value percent of the replicas at the period's start.
type ScalingPolicy struct {
	Type          string `json:"type"`
	Value         int32  `json:"value"`
	PeriodSeconds int32  `json:"periodSeconds"`
}

// AutoscalerStatus is what the controller observed and did last.
type AutoscalerStatus struct {
	CurrentReplicas int32         `json:"currentReplicas"`
	DesiredReplicas int32         `json:"desiredReplicas"`
	CurrentMetrics  []MetricValue `json:"currentMetrics,omitempty"`
	// LastScaleTime is the leader's wall clock when it last changed the
	// workload's replicas.
	LastScaleTime time.Time             `json:"lastScaleTime,omitzero"`
	Conditions    []AutoscalerCondition `json:"conditions,omitempty"`
	// Decisions are the latest changes of replicas and why, newest last,
	// at most MaxAutoscalerDecisions.
	Decisions []AutoscalerDecision `json:"decisions,omitempty"`
}

// MaxAutoscalerDecisions bounds the decisions kept in the status.
const MaxAutoscalerDecisions = 10

// MetricValue is one metric's current average: Utilization in percent
// (when the target is one) and the average value per pod.
type MetricValue struct {
	Resource           string `json:"resource"`
	AverageUtilization *int32 `json:"averageUtilization,omitempty"`
	AverageValue       int64  `json:"averageValue"`
}

// AutoscalerCondition is AbleToScale, ScalingActive or ScalingLimited.
type AutoscalerCondition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
}

// AutoscalerDecision is one change of the workload's replicas.
type AutoscalerDecision struct {
	At     time.Time `json:"at"`
	From   int32     `json:"from"`
	To     int32     `json:"to"`
	Reason string    `json:"reason"`
}

// Clone returns a deep copy of a.
func (a *Autoscaler) Clone() *Autoscaler {
	if a == nil {
		return nil
	}
	c := *a
	c.Metrics = slices.Clone(a.Metrics)
	c.ScaleUp, c.ScaleDown = a.ScaleUp.clone(), a.ScaleDown.clone()
	if a.Status != nil {
		s := *a.Status
		s.CurrentMetrics = slices.Clone(a.Status.CurrentMetrics)
		for i, m := range s.CurrentMetrics {
			if m.AverageUtilization != nil {
				u := *m.AverageUtilization
				s.CurrentMetrics[i].AverageUtilization = &u
			}
		}
		s.Conditions = slices.Clone(a.Status.Conditions)
		s.Decisions = slices.Clone(a.Status.Decisions)
		c.Status = &s
	}
	return &c
}

func (r *ScalingRules) clone() *ScalingRules {
	if r == nil {
		return nil
	}
	c := *r
	if r.StabilizationWindowSeconds != nil {
		w := *r.StabilizationWindowSeconds
		c.StabilizationWindowSeconds = &w
	}
	c.Policies = slices.Clone(r.Policies)
	return &c
}
