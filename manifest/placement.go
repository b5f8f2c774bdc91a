package manifest

import (
	"slices"
	"strconv"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// tolerations converts a pod's tolerations with Kubernetes' validation
// rules.
func (c *conv) tolerations(ts []corev1.Toleration, p string) []cluster.Toleration {
	var out []cluster.Toleration
	for i, t := range ts {
		tp := index(p, i)
		if t.Key != "" {
			c.check(field(tp, "key"), t.Key, validation.IsQualifiedName(t.Key))
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			if t.Value != "" {
				c.errf(field(tp, "value"), "must be empty when operator is Exists")
			}
		case "", corev1.TolerationOpEqual:
			if t.Key == "" {
				c.errf(field(tp, "operator"), "must be Exists when key is empty")
			}
			c.check(field(tp, "value"), t.Value, validation.IsValidLabelValue(t.Value))
		default:
			c.errf(field(tp, "operator"), "%q is not supported (Equal or Exists)", t.Operator)
		}
		eff := cluster.TaintEffect(t.Effect)
		if eff != "" && !cluster.ValidEffect(eff) {
			c.errf(field(tp, "effect"), "%q is not supported (NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)
		}
		if t.TolerationSeconds != nil && eff != cluster.TaintNoExecute {
			c.errf(field(tp, "tolerationSeconds"), "needs effect NoExecute")
		}
		out = append(out, cluster.Toleration{
			Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: eff,
			TolerationSeconds: clonePtrInt64(t.TolerationSeconds),
		})
	}
	return out
}

func clonePtrInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// tolerationsToK8s writes tolerations back as given.
func tolerationsToK8s(ts []cluster.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: clonePtrInt64(t.TolerationSeconds),
		})
	}
	return out
}

// affinity converts spec.affinity: node affinity, pod affinity and pod
// anti-affinity.
func (c *conv) affinity(a *corev1.Affinity, p string) *cluster.Affinity {
	if a == nil {
		return nil
	}
	out := &cluster.Affinity{NodeAffinity: c.nodeAffinity(a.NodeAffinity, p+".nodeAffinity")}
	if pa := a.PodAffinity; pa != nil {
		out.PodAffinity = c.podAffinity(pa.RequiredDuringSchedulingIgnoredDuringExecution,
			pa.PreferredDuringSchedulingIgnoredDuringExecution, p+".podAffinity")
	}
	if pa := a.PodAntiAffinity; pa != nil {
		out.PodAntiAffinity = c.podAffinity(pa.RequiredDuringSchedulingIgnoredDuringExecution,
			pa.PreferredDuringSchedulingIgnoredDuringExecution, p+".podAntiAffinity")
	}
	if out.NodeAffinity == nil && out.PodAffinity == nil && out.PodAntiAffinity == nil {
		return nil
	}
	return out
}

func (c *conv) nodeAffinity(na *corev1.NodeAffinity, np string) *cluster.NodeAffinity {
	if na == nil {
		return nil
	}
	out := &cluster.NodeAffinity{}
	if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
		rp := np + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
		if len(r.NodeSelectorTerms) == 0 {
			c.errf(rp, "required: at least one term")
		}
		for i, t := range r.NodeSelectorTerms {
			out.Required = append(out.Required, c.nodeSelectorTerm(t, index(rp, i)))
		}
	}
	pp := np + ".preferredDuringSchedulingIgnoredDuringExecution"
	for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.Weight < 1 || t.Weight > 100 {
			c.errf(field(index(pp, i), "weight"), "%d must be between 1 and 100", t.Weight)
		}
		out.Preferred = append(out.Preferred, cluster.PreferredSchedulingTerm{
			Weight: t.Weight, Preference: c.nodeSelectorTerm(t.Preference, field(index(pp, i), "preference")),
		})
	}
	if out.Required == nil && out.Preferred == nil {
		return nil
	}
	return out
}

func (c *conv) nodeSelectorTerm(t corev1.NodeSelectorTerm, p string) cluster.NodeSelectorTerm {
	var out cluster.NodeSelectorTerm
	for i, r := range t.MatchExpressions {
		rp := index(p+".matchExpressions", i)
		c.check(field(rp, "key"), r.Key, validation.IsQualifiedName(r.Key))
		c.requirementValues(r, rp)
		out.MatchExpressions = append(out.MatchExpressions, requirement(r))
	}
	for i, r := range t.MatchFields {
		rp := index(p+".matchFields", i)
		if r.Key != cluster.FieldNodeName {
			c.errf(field(rp, "key"), "%q is not supported (only %s)", r.Key, cluster.FieldNodeName)
		}
		if r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
			c.errf(field(rp, "operator"), "%q is not supported for matchFields (In or NotIn)", r.Operator)
		} else if len(r.Values) != 1 {
			c.errf(field(rp, "values"), "must have exactly one value for %s", cluster.FieldNodeName)
		}
		out.MatchFields = append(out.MatchFields, requirement(r))
	}
	return out
}

// requirementValues checks the values an operator needs, with Kubernetes'
// rules.
func (c *conv) requirementValues(r corev1.NodeSelectorRequirement, p string) {
	vp := field(p, "values")
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			c.errf(vp, "required for operator %s", r.Operator)
		}
		for i, v := range r.Values {
			c.check(index(vp, i), v, validation.IsValidLabelValue(v))
		}
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			c.errf(vp, "must be empty for operator %s", r.Operator)
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			c.errf(vp, "must have exactly one value for operator %s", r.Operator)
		} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			c.errf(index(vp, 0), "%q must be an integer for operator %s", r.Values[0], r.Operator)
		}
	default:
		c.errf(field(p, "operator"), "%q is not supported (In, NotIn, Exists, DoesNotExist, Gt or Lt)", r.Operator)
	}
}

func requirement(r corev1.NodeSelectorRequirement) cluster.NodeSelectorRequirement {
	return cluster.NodeSelectorRequirement{Key: r.Key, Operator: string(r.Operator), Values: slices.Clone(r.Values)}
}

// affinityToK8s writes the affinity back as given.
func affinityToK8s(a *cluster.Affinity) *corev1.Affinity {
	if a == nil {
		return nil
	}
	out := &corev1.Affinity{NodeAffinity: nodeAffinityToK8s(a.NodeAffinity)}
	if a.PodAffinity != nil {
		req, pref := podAffinityToK8s(a.PodAffinity)
		out.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req, PreferredDuringSchedulingIgnoredDuringExecution: pref}
	}
	if a.PodAntiAffinity != nil {
		req, pref := podAffinityToK8s(a.PodAntiAffinity)
		out.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req, PreferredDuringSchedulingIgnoredDuringExecution: pref}
	}
	if out.NodeAffinity == nil && out.PodAffinity == nil && out.PodAntiAffinity == nil {
		return nil
	}
	return out
}

func nodeAffinityToK8s(a *cluster.NodeAffinity) *corev1.NodeAffinity {
	if a == nil {
		return nil
	}
	na := &corev1.NodeAffinity{}
	if len(a.Required) > 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
		for _, t := range a.Required {
			na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, termToK8s(t))
		}
	}
	for _, p := range a.Preferred {
		na.PreferredDuringSchedulingIgnoredDuringExecution = append(na.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.PreferredSchedulingTerm{Weight: p.Weight, Preference: termToK8s(p.Preference)})
	}
	return na
}

func termToK8s(t cluster.NodeSelectorTerm) corev1.NodeSelectorTerm {
	var out corev1.NodeSelectorTerm
	for _, r := range t.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOperator(r.Operator), Values: slices.Clone(r.Values)})
	}
	for _, r := range t.MatchFields {
		out.MatchFields = append(out.MatchFields, corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOperator(r.Operator), Values: slices.Clone(r.Values)})
	}
	return out
}
