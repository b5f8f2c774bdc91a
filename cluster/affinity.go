package cluster

import (
	"slices"
	"strconv"
)

// Affinity holds a pod's placement rules: node affinity and inter-pod
// affinity and anti-affinity (podaffinity.go).
type Affinity struct {
	NodeAffinity    *NodeAffinity `json:"nodeAffinity,omitempty"`
	PodAffinity     *PodAffinity  `json:"podAffinity,omitempty"`
	PodAntiAffinity *PodAffinity  `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity is Kubernetes' node affinity: Required (any of its terms)
// must match for the pod to be placed; the weights of the Preferred terms
// that match add up to a node's score.
type NodeAffinity struct {
	Required  []NodeSelectorTerm        `json:"required,omitempty"`
	Preferred []PreferredSchedulingTerm `json:"preferred,omitempty"`
}

// NodeSelectorTerm matches a node when all its requirements do; an empty
// term matches no node, as in Kubernetes.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields may only name metadata.name.
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorRequirement is one key, operator and values.
type NodeSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// PreferredSchedulingTerm is a weighted (1-100) preference.
type PreferredSchedulingTerm struct {
	Weight     int32            `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// Node selector operators.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
	OpGt           = "Gt"
	OpLt           = "Lt"
)

// FieldNodeName is the one field matchFields may name.
const FieldNodeName = "metadata.name"

// RequiredMatch reports whether n satisfies the required terms (any of
// them); no terms means no requirement.
func (a *NodeAffinity) RequiredMatch(n *Node) bool {
	if a == nil || len(a.Required) == 0 {
		return true
	}
	for _, t := range a.Required {
		if t.Matches(n) {
			return true
		}
	}
	return false
}

// PreferredScore sums the weights of the preferred terms n matches.
func (a *NodeAffinity) PreferredScore(n *Node) int64 {
	if a == nil {
		return 0
	}
	var s int64
	for _, p := range a.Preferred {
		if p.Preference.Matches(n) {
			s += int64(p.Weight)
		}
	}
	return s
}

// Matches reports whether every requirement of t holds for n.
func (t NodeSelectorTerm) Matches(n *Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, ok := n.Labels[r.Key]
		if !r.matches(v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != FieldNodeName || !r.matches(n.Name, true) {
			return false
		}
	}
	return true
}

func (r NodeSelectorRequirement) matches(v string, ok bool) bool {
	switch r.Operator {
	case OpIn:
		return ok && slices.Contains(r.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	case OpGt, OpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == OpGt {
			return have > want
		}
		return have < want
	}
	return false
}

// Clone returns a deep copy of a.
func (a *Affinity) Clone() *Affinity {
	if a == nil {
		return nil
	}
	c := &Affinity{PodAffinity: a.PodAffinity.Clone(), PodAntiAffinity: a.PodAntiAffinity.Clone()}
	if na := a.NodeAffinity; na != nil {
		c.NodeAffinity = &NodeAffinity{Required: cloneTerms(na.Required)}
		for _, p := range na.Preferred {
			c.NodeAffinity.Preferred = append(c.NodeAffinity.Preferred, PreferredSchedulingTerm{Weight: p.Weight, Preference: p.Preference.clone()})
		}
	}
	return c
}

func cloneTerms(ts []NodeSelectorTerm) []NodeSelectorTerm {
	if ts == nil {
		return nil
	}
	out := make([]NodeSelectorTerm, len(ts))
	for i, t := range ts {
		out[i] = t.clone()
	}
	return out
}

func (t NodeSelectorTerm) clone() NodeSelectorTerm {
	return NodeSelectorTerm{MatchExpressions: cloneReqs(t.MatchExpressions), MatchFields: cloneReqs(t.MatchFields)}
}

func cloneReqs(rs []NodeSelectorRequirement) []NodeSelectorRequirement {
	if rs == nil {
		return nil
	}
	out := make([]NodeSelectorRequirement, len(rs))
	for i, r := range rs {
		out[i] = NodeSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: slices.Clone(r.Values)}
	}
	return out
}
