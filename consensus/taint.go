package consensus

import (
	"slices"

	"shoal/cluster"
)

// TaintNode adds and removes taints of a node in one step, as
// `shoal taint node` asks. An added taint replaces one of the same key and
// effect; a removal with an empty Effect removes every taint of the key.
type TaintNode struct {
	Name   string          `json:"name"`
	Add    []cluster.Taint `json:"add,omitempty"`
	Remove []cluster.Taint `json:"remove,omitempty"`
}

// Type implements Command.
func (*TaintNode) Type() CommandType { return TaintNodeType }

func (c *TaintNode) apply(a *applier) Result {
	n, ok := a.txn.Node(c.Name)
	if !ok {
		return Result{Err: notFound("node", "", c.Name)}
	}
	taints := slices.Clone(n.Taints)
	for _, r := range c.Remove {
		kept := slices.DeleteFunc(taints, func(t cluster.Taint) bool {
			return t.Key == r.Key && (r.Effect == "" || t.Effect == r.Effect)
		})
		if len(kept) == len(taints) {
			return invalid("taint %q not found on node %s", removalString(r), c.Name)
		}
		taints = kept
	}
	for _, t := range c.Add {
		if t.Key == "" || !cluster.ValidEffect(t.Effect) {
			return invalid("taint %q: needs a key and effect NoSchedule, PreferNoSchedule or NoExecute", t.Key)
		}
		taints = slices.DeleteFunc(taints, func(o cluster.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect })
		taints = append(taints, t)
	}
	if slices.Equal(taints, n.Taints) {
		return Result{Skipped: 1}
	}
	n = n.Clone()
	n.Taints = taints
	if len(n.Taints) == 0 {
		n.Taints = nil
	}
	a.txn.PutNode(n)
	return Result{Changed: 1}
}

func removalString(t cluster.Taint) string {
	if t.Effect == "" {
		return t.Key
	}
	return t.Key + ":" + string(t.Effect)
}
