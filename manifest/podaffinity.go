package manifest

import (
	"maps"
	"slices"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// podAffinity converts podAffinity or podAntiAffinity (p names which),
// with Kubernetes' validation rules.
func (c *conv) podAffinity(req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm, p string) *cluster.PodAffinity {
	out := &cluster.PodAffinity{}
	rp := p + ".requiredDuringSchedulingIgnoredDuringExecution"
	for i, t := range req {
		out.Required = append(out.Required, c.podAffinityTerm(t, index(rp, i)))
	}
	pp := p + ".preferredDuringSchedulingIgnoredDuringExecution"
	for i, w := range pref {
		wp := index(pp, i)
		if w.Weight < 1 || w.Weight > 100 {
			c.errf(field(wp, "weight"), "%d must be between 1 and 100", w.Weight)
		}
		out.Preferred = append(out.Preferred, cluster.WeightedPodAffinityTerm{
			Weight: w.Weight, Term: c.podAffinityTerm(w.PodAffinityTerm, field(wp, "podAffinityTerm")),
		})
	}
	if out.Required == nil && out.Preferred == nil {
		return nil
	}
	return out
}

func (c *conv) podAffinityTerm(t corev1.PodAffinityTerm, p string) cluster.PodAffinityTerm {
	if t.TopologyKey == "" {
		c.errf(field(p, "topologyKey"), "required: a node label key such as kubernetes.io/hostname or topology.kubernetes.io/zone")
	} else {
		c.check(field(p, "topologyKey"), t.TopologyKey, validation.IsQualifiedName(t.TopologyKey))
	}
	for i, ns := range t.Namespaces {
		c.check(index(field(p, "namespaces"), i), ns, validation.IsDNS1123Label(ns))
	}
	out := cluster.PodAffinityTerm{
		LabelSelector:     c.labelSelector(t.LabelSelector, field(p, "labelSelector")),
		Namespaces:        slices.Clone(t.Namespaces),
		NamespaceSelector: c.labelSelector(t.NamespaceSelector, field(p, "namespaceSelector")),
		TopologyKey:       t.TopologyKey,
	}
	out.MatchLabelKeys = c.labelKeys(t.MatchLabelKeys, t.LabelSelector, field(p, "matchLabelKeys"))
	out.MismatchLabelKeys = c.labelKeys(t.MismatchLabelKeys, t.LabelSelector, field(p, "mismatchLabelKeys"))
	for _, k := range t.MatchLabelKeys {
		if slices.Contains(t.MismatchLabelKeys, k) {
			c.errf(field(p, "mismatchLabelKeys"), "%q is also in matchLabelKeys", k)
		}
	}
	return out
}

// labelKeys checks matchLabelKeys or mismatchLabelKeys: valid label keys,
// with a selector to add to, and not already in it (Kubernetes' rules).
func (c *conv) labelKeys(keys []string, sel *metav1.LabelSelector, p string) []string {
	if len(keys) > 0 && sel == nil {
		c.errf(p, "must not be set without labelSelector")
	}
	for i, k := range keys {
		c.check(index(p, i), k, validation.IsQualifiedName(k))
		if sel == nil {
			continue
		}
		_, inLabels := sel.MatchLabels[k]
		if inLabels || slices.ContainsFunc(sel.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool { return r.Key == k }) {
			c.errf(index(p, i), "%q is also in labelSelector", k)
		}
	}
	return slices.Clone(keys)
}

// labelSelector converts a label selector with Kubernetes' rules.
func (c *conv) labelSelector(s *metav1.LabelSelector, p string) *cluster.LabelSelector {
	if s == nil {
		return nil
	}
	c.labels(field(p, "matchLabels"), s.MatchLabels)
	out := &cluster.LabelSelector{MatchLabels: maps.Clone(s.MatchLabels)}
	for i, r := range s.MatchExpressions {
		rp := index(field(p, "matchExpressions"), i)
		c.check(field(rp, "key"), r.Key, validation.IsQualifiedName(r.Key))
		vp := field(rp, "values")
		switch r.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				c.errf(vp, "required for operator %s", r.Operator)
			}
			for j, v := range r.Values {
				c.check(index(vp, j), v, validation.IsValidLabelValue(v))
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				c.errf(vp, "must be empty for operator %s", r.Operator)
			}
		default:
			c.errf(field(rp, "operator"), "%q is not supported (In, NotIn, Exists or DoesNotExist)", r.Operator)
		}
		out.MatchExpressions = append(out.MatchExpressions, cluster.LabelSelectorRequirement{
			Key: r.Key, Operator: string(r.Operator), Values: slices.Clone(r.Values),
		})
	}
	return out
}

// topologySpread converts topologySpreadConstraints with Kubernetes'
// validation rules.
func (c *conv) topologySpread(cs []corev1.TopologySpreadConstraint, p string) []cluster.TopologySpreadConstraint {
	var out []cluster.TopologySpreadConstraint
	seen := map[string]bool{}
	for i, k := range cs {
		tp := index(p, i)
		if k.MaxSkew < 1 {
			c.errf(field(tp, "maxSkew"), "%d must be greater than zero", k.MaxSkew)
		}
		if k.TopologyKey == "" {
			c.errf(field(tp, "topologyKey"), "required: a node label key such as topology.kubernetes.io/zone")
		} else {
			c.check(field(tp, "topologyKey"), k.TopologyKey, validation.IsQualifiedName(k.TopologyKey))
		}
		when := string(k.WhenUnsatisfiable)
		switch when {
		case cluster.DoNotSchedule, cluster.ScheduleAnyway:
		case "":
			c.errf(field(tp, "whenUnsatisfiable"), "required (DoNotSchedule or ScheduleAnyway)")
		default:
			c.errf(field(tp, "whenUnsatisfiable"), "%q is not supported (DoNotSchedule or ScheduleAnyway)", when)
		}
		if key := k.TopologyKey + "\x00" + when; seen[key] {
			c.errf(tp, "duplicate {topologyKey %q, whenUnsatisfiable %q}", k.TopologyKey, when)
		} else {
			seen[key] = true
		}
		if m := k.MinDomains; m != nil {
			if *m < 1 {
				c.errf(field(tp, "minDomains"), "%d must be greater than zero", *m)
			} else if when != cluster.DoNotSchedule {
				c.errf(field(tp, "minDomains"), "may only be set with whenUnsatisfiable DoNotSchedule")
			}
		}
		c.inclusionPolicy(k.NodeAffinityPolicy, field(tp, "nodeAffinityPolicy"))
		c.inclusionPolicy(k.NodeTaintsPolicy, field(tp, "nodeTaintsPolicy"))
		out = append(out, cluster.TopologySpreadConstraint{
			MaxSkew: k.MaxSkew, TopologyKey: k.TopologyKey, WhenUnsatisfiable: when,
			LabelSelector:      c.labelSelector(k.LabelSelector, field(tp, "labelSelector")),
			MinDomains:         clonePtrInt32(k.MinDomains),
			NodeAffinityPolicy: policyString(k.NodeAffinityPolicy),
			NodeTaintsPolicy:   policyString(k.NodeTaintsPolicy),
			MatchLabelKeys:     c.labelKeys(k.MatchLabelKeys, k.LabelSelector, field(tp, "matchLabelKeys")),
		})
	}
	return out
}

func (c *conv) inclusionPolicy(v *corev1.NodeInclusionPolicy, p string) {
	if v == nil {
		return
	}
	switch string(*v) {
	case cluster.PolicyHonor, cluster.PolicyIgnore:
	default:
		c.errf(p, "%q is not supported (Honor or Ignore)", string(*v))
	}
}

func policyString(v *corev1.NodeInclusionPolicy) string {
	if v == nil {
		return ""
	}
	return string(*v)
}

func clonePtrInt32(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// podAffinityToK8s writes podAffinity or podAntiAffinity back as given.
func podAffinityToK8s(a *cluster.PodAffinity) (req []corev1.PodAffinityTerm, pref []corev1.WeightedPodAffinityTerm) {
	if a == nil {
		return nil, nil
	}
	for _, t := range a.Required {
		req = append(req, podAffinityTermToK8s(t))
	}
	for _, w := range a.Preferred {
		pref = append(pref, corev1.WeightedPodAffinityTerm{Weight: w.Weight, PodAffinityTerm: podAffinityTermToK8s(w.Term)})
	}
	return req, pref
}

func podAffinityTermToK8s(t cluster.PodAffinityTerm) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector: labelSelectorToK8s(t.LabelSelector), Namespaces: slices.Clone(t.Namespaces),
		NamespaceSelector: labelSelectorToK8s(t.NamespaceSelector),
		TopologyKey:       t.TopologyKey, MatchLabelKeys: slices.Clone(t.MatchLabelKeys),
		MismatchLabelKeys: slices.Clone(t.MismatchLabelKeys),
	}
}

func labelSelectorToK8s(s *cluster.LabelSelector) *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: maps.Clone(s.MatchLabels)}
	for _, r := range s.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: slices.Clone(r.Values),
		})
	}
	return out
}

// topologySpreadToK8s writes the constraints back as given.
func topologySpreadToK8s(cs []cluster.TopologySpreadConstraint) []corev1.TopologySpreadConstraint {
	var out []corev1.TopologySpreadConstraint
	for _, k := range cs {
		kc := corev1.TopologySpreadConstraint{
			MaxSkew: k.MaxSkew, TopologyKey: k.TopologyKey,
			WhenUnsatisfiable: corev1.UnsatisfiableConstraintAction(k.WhenUnsatisfiable),
			LabelSelector:     labelSelectorToK8s(k.LabelSelector), MinDomains: clonePtrInt32(k.MinDomains),
			MatchLabelKeys: slices.Clone(k.MatchLabelKeys),
		}
		if k.NodeAffinityPolicy != "" {
			kc.NodeAffinityPolicy = ptr(corev1.NodeInclusionPolicy(k.NodeAffinityPolicy))
		}
		if k.NodeTaintsPolicy != "" {
			kc.NodeTaintsPolicy = ptr(corev1.NodeInclusionPolicy(k.NodeTaintsPolicy))
		}
		out = append(out, kc)
	}
	return out
}
