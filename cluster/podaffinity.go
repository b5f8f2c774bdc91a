package cluster

import "slices"

// LabelSelector is Kubernetes' label selector: a pod matches when it has
// every MatchLabels pair and every expression holds. An empty selector
// matches every pod; a nil one (in a term) matches none, as in Kubernetes.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one key, operator (In, NotIn, Exists,
// DoesNotExist) and values.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Matches reports whether labels satisfy s; a nil selector matches nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case OpIn:
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case OpNotIn:
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case OpExists:
			if !ok {
				return false
			}
		case OpDoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Clone returns a deep copy of s.
func (s *LabelSelector) Clone() *LabelSelector {
	if s == nil {
		return nil
	}
	c := &LabelSelector{MatchLabels: cloneMap(s.MatchLabels)}
	for _, r := range s.MatchExpressions {
		c.MatchExpressions = append(c.MatchExpressions, LabelSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: slices.Clone(r.Values)})
	}
	return c
}

// withKeys returns s narrowed to the values labels has for in (key In
// [value]) and away from those it has for notIn (key NotIn [value]): what
// Kubernetes' matchLabelKeys and mismatchLabelKeys add. Keys the labels
// lack add nothing, as in Kubernetes.
func (s *LabelSelector) withKeys(labels map[string]string, in, notIn []string) *LabelSelector {
	if s == nil || len(in)+len(notIn) == 0 {
		return s
	}
	c := s.Clone()
	for _, k := range in {
		if v, ok := labels[k]; ok {
			c.MatchExpressions = append(c.MatchExpressions, LabelSelectorRequirement{Key: k, Operator: OpIn, Values: []string{v}})
		}
	}
	for _, k := range notIn {
		if v, ok := labels[k]; ok {
			c.MatchExpressions = append(c.MatchExpressions, LabelSelectorRequirement{Key: k, Operator: OpNotIn, Values: []string{v}})
		}
	}
	return c
}

// PodAffinity is Kubernetes' podAffinity or podAntiAffinity: every
// Required term must hold (affinity: some matching pod in the node's
// domain; anti-affinity: none); the Preferred terms weigh nodes.
type PodAffinity struct {
	Required  []PodAffinityTerm         `json:"required,omitempty"`
	Preferred []WeightedPodAffinityTerm `json:"preferred,omitempty"`
}

// PodAffinityTerm selects pods (LabelSelector, in Namespaces) and a
// topology: the nodes sharing a value of the TopologyKey label are one
// domain.
type PodAffinityTerm struct {
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	// Namespaces and the namespaces NamespaceSelector selects (by their
	// labels; {} selects all) are where the selected pods are; neither
	// means the pod's own namespace.
	Namespaces        []string       `json:"namespaces,omitempty"`
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`
	TopologyKey       string         `json:"topologyKey"`
	// MatchLabelKeys and MismatchLabelKeys narrow the selector to pods
	// that share (do not share) the pod's values for these keys.
	MatchLabelKeys    []string `json:"matchLabelKeys,omitempty"`
	MismatchLabelKeys []string `json:"mismatchLabelKeys,omitempty"`
}

// WeightedPodAffinityTerm is a preferred term with its weight (1-100).
type WeightedPodAffinityTerm struct {
	Weight int32           `json:"weight"`
	Term   PodAffinityTerm `json:"term"`
}

// Selector is the term's selector as it applies for a pod with labels
// (matchLabelKeys and mismatchLabelKeys merged in).
func (t *PodAffinityTerm) Selector(labels map[string]string) *LabelSelector {
	return t.LabelSelector.withKeys(labels, t.MatchLabelKeys, t.MismatchLabelKeys)
}

// LabelNamespaceName is the label Kubernetes gives every namespace: its
// name, so that a namespaceSelector can name namespaces.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// InNamespace reports whether the term, written in a pod of namespace
// own, selects pods of namespace ns, whose labels are nsLabels.
func (t *PodAffinityTerm) InNamespace(own, ns string, nsLabels map[string]string) bool {
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		return ns == own
	}
	return slices.Contains(t.Namespaces, ns) || t.NamespaceSelector.Matches(nsLabels)
}

// Clone returns a deep copy of a.
func (a *PodAffinity) Clone() *PodAffinity {
	if a == nil {
		return nil
	}
	c := &PodAffinity{}
	for _, t := range a.Required {
		c.Required = append(c.Required, t.clone())
	}
	for _, w := range a.Preferred {
		c.Preferred = append(c.Preferred, WeightedPodAffinityTerm{Weight: w.Weight, Term: w.Term.clone()})
	}
	return c
}

func (t PodAffinityTerm) clone() PodAffinityTerm {
	t.LabelSelector = t.LabelSelector.Clone()
	t.Namespaces = slices.Clone(t.Namespaces)
	t.NamespaceSelector = t.NamespaceSelector.Clone()
	t.MatchLabelKeys = slices.Clone(t.MatchLabelKeys)
	t.MismatchLabelKeys = slices.Clone(t.MismatchLabelKeys)
	return t
}

// Unsatisfiable actions of a topology spread constraint.
const (
	DoNotSchedule  = "DoNotSchedule"
	ScheduleAnyway = "ScheduleAnyway"
)

// Node inclusion policies of a topology spread constraint.
const (
	PolicyHonor  = "Honor"
	PolicyIgnore = "Ignore"
)

// TopologySpreadConstraint is Kubernetes' topologySpreadConstraint: the
// pods matching LabelSelector (in the pod's namespace) may differ by at
// most MaxSkew between the domains of TopologyKey.
type TopologySpreadConstraint struct {
	MaxSkew           int32          `json:"maxSkew"`
	TopologyKey       string         `json:"topologyKey"`
	WhenUnsatisfiable string         `json:"whenUnsatisfiable"`
	LabelSelector     *LabelSelector `json:"labelSelector,omitempty"`
	// MinDomains: with fewer eligible domains, the global minimum is taken
	// as 0 (DoNotSchedule only).
	MinDomains *int32 `json:"minDomains,omitempty"`
	// NodeAffinityPolicy ("" is Honor) and NodeTaintsPolicy ("" is
	// Ignore) say whether the pod's node affinity and tolerations decide
	// which nodes count.
	NodeAffinityPolicy string   `json:"nodeAffinityPolicy,omitempty"`
	NodeTaintsPolicy   string   `json:"nodeTaintsPolicy,omitempty"`
	MatchLabelKeys     []string `json:"matchLabelKeys,omitempty"`
}

// Selector is the constraint's selector for a pod with labels
// (matchLabelKeys merged in).
func (c *TopologySpreadConstraint) Selector(labels map[string]string) *LabelSelector {
	return c.LabelSelector.withKeys(labels, c.MatchLabelKeys, nil)
}

// HonorsAffinity reports whether the pod's node selector and affinity
// decide which nodes count (Kubernetes' default: yes).
func (c *TopologySpreadConstraint) HonorsAffinity() bool {
	return c.NodeAffinityPolicy != PolicyIgnore
}

// HonorsTaints reports whether untolerated taints keep nodes out of the
// count (Kubernetes' default: no).
func (c *TopologySpreadConstraint) HonorsTaints() bool {
	return c.NodeTaintsPolicy == PolicyHonor
}

func cloneSpread(cs []TopologySpreadConstraint) []TopologySpreadConstraint {
	if cs == nil {
		return nil
	}
	out := make([]TopologySpreadConstraint, len(cs))
	for i, c := range cs {
		c.LabelSelector = c.LabelSelector.Clone()
		c.MinDomains = clonePtr(c.MinDomains)
		c.MatchLabelKeys = slices.Clone(c.MatchLabelKeys)
		out[i] = c
	}
	return out
}

// HasPodAffinity reports whether s has inter-pod rules: pod affinity,
// anti-affinity or topology spread constraints.
func (s *PodSpec) HasPodAffinity() bool {
	if len(s.TopologySpreadConstraints) > 0 {
		return true
	}
	a := s.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}
