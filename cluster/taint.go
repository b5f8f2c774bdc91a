package cluster

import "fmt"

// TaintEffect is what a taint does to pods that do not tolerate it.
type TaintEffect string

// Taint effects, as Kubernetes names them.
const (
	// TaintNoSchedule keeps new pods off the node.
	TaintNoSchedule TaintEffect = "NoSchedule"
	// TaintPreferNoSchedule makes the scheduler avoid the node.
	TaintPreferNoSchedule TaintEffect = "PreferNoSchedule"
	// TaintNoExecute keeps new pods off and evicts running ones.
	TaintNoExecute TaintEffect = "NoExecute"
)

// ValidEffect reports whether e is one of the three taint effects.
func ValidEffect(e TaintEffect) bool {
	return e == TaintNoSchedule || e == TaintPreferNoSchedule || e == TaintNoExecute
}

// Taint repels pods that do not tolerate it from a node.
type Taint struct {
	Key    string      `json:"key"`
	Value  string      `json:"value,omitempty"`
	Effect TaintEffect `json:"effect"`
}

// String prints the taint as Kubernetes' Pending reason does: {key: value}.
func (t Taint) String() string {
	return fmt.Sprintf("{%s: %s}", t.Key, t.Value)
}

// Toleration operators.
const (
	TolerationEqual  = "Equal"
	TolerationExists = "Exists"
)

// Toleration lets a pod onto (or stay on) a node with a matching taint.
type Toleration struct {
	// Key "" with operator Exists tolerates every taint.
	Key string `json:"key,omitempty"`
	// Operator is Equal (the default, "") or Exists.
	Operator string `json:"operator,omitempty"`
	Value    string `json:"value,omitempty"`
	// Effect "" matches every effect.
	Effect TaintEffect `json:"effect,omitempty"`
	// TolerationSeconds bounds how long a NoExecute taint is tolerated;
	// nil tolerates it for ever.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Tolerates reports whether t matches taint, with Kubernetes' rules.
func (t Toleration) Tolerates(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case TolerationExists:
		return true
	case "", TolerationEqual:
		return t.Key != "" && t.Value == taint.Value
	}
	return false
}

// Untolerated returns the first of taints with one of effects that no
// toleration matches, and whether there is one.
func Untolerated(taints []Taint, tols []Toleration, effects ...TaintEffect) (Taint, bool) {
	for _, taint := range taints {
		if !hasEffect(effects, taint.Effect) {
			continue
		}
		if !anyTolerates(tols, taint) {
			return taint, true
		}
	}
	return Taint{}, false
}

// CountUntolerated counts the taints with effect that no toleration matches.
func CountUntolerated(taints []Taint, tols []Toleration, effect TaintEffect) int {
	n := 0
	for _, taint := range taints {
		if taint.Effect == effect && !anyTolerates(tols, taint) {
			n++
		}
	}
	return n
}

// NoExecuteGrace says how long a pod with tols may stay on a node with
// taints: evict false means it may stay for ever; otherwise it must go
// after seconds (0: now), the shortest of its matching tolerations.
func NoExecuteGrace(taints []Taint, tols []Toleration) (evict bool, seconds int64) {
	for _, taint := range taints {
		if taint.Effect != TaintNoExecute {
			continue
		}
		var best int64 = -1
		tolerated := false
		forever := false
		for _, t := range tols {
			if !t.Tolerates(taint) {
				continue
			}
			tolerated = true
			if t.TolerationSeconds == nil {
				forever = true
				continue
			}
			if s := max(*t.TolerationSeconds, 0); best < 0 || s < best {
				best = s
			}
		}
		switch {
		case !tolerated:
			return true, 0
		case forever && best < 0:
			continue
		}
		// Kubernetes takes the smallest tolerationSeconds of the matching
		// tolerations.
		if !evict || best < seconds {
			evict, seconds = true, best
		}
	}
	return evict, seconds
}

func anyTolerates(tols []Toleration, taint Taint) bool {
	for _, t := range tols {
		if t.Tolerates(taint) {
			return true
		}
	}
	return false
}

func hasEffect(effects []TaintEffect, e TaintEffect) bool {
	for _, x := range effects {
		if x == e {
			return true
		}
	}
	return false
}
