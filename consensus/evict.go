package consensus

import (
	"fmt"

	"shoal/cluster"
)

// EvictPods stops pods the way Kubernetes' eviction does: each only if
// every PodDisruptionBudget selecting it still holds afterwards. The
// check runs here, in log order, so two drains at once cannot both take
// the last disruption a budget allows. Pods left alone are listed in the
// result's Blocked with the reason.
type EvictPods struct {
	Pods []cluster.PodRef `json:"pods"`
}

func (*EvictPods) Type() CommandType { return EvictPodsType }

func (c *EvictPods) apply(a *applier) Result {
	var r Result
	for _, ref := range c.Pods {
		p, ok := a.txn.Pod(orDefault(ref.Namespace), ref.Name)
		if !ok || p.UID != ref.UID || p.Terminating {
			r.Skipped++
			continue
		}
		if why := a.evictionBlocked(p); why != "" {
			r.Skipped++
			r.Blocked = append(r.Blocked, fmt.Sprintf("pod %s/%s: %s", p.Namespace, p.Name, why))
			continue
		}
		if a.terminate(p) {
			r.Changed++
		}
	}
	return r
}

// evictionBlocked is why evicting p would break a budget, "" if it would
// not. A pod under two budgets is never evicted, as in Kubernetes.
func (a *applier) evictionBlocked(p *cluster.Pod) string {
	var budgets []*cluster.Object
	for _, b := range a.txn.Objects(cluster.KindPodDisruptionBudget, p.Namespace) {
		if b.Budget != nil && cluster.MatchesSelector(b.Budget.Selector, p.Labels) {
			budgets = append(budgets, b)
		}
	}
	switch len(budgets) {
	case 0:
		return ""
	case 1:
	default:
		return fmt.Sprintf("it is selected by %d PodDisruptionBudgets (%s, %s); evicting it needs exactly one", len(budgets), budgets[0].Name, budgets[1].Name)
	}
	if ok, why := budgets[0].Budget.Allows(p, a.txn.PodsIn(p.Namespace)); !ok {
		return fmt.Sprintf("evicting it would violate PodDisruptionBudget %s (%s)", budgets[0].Name, why)
	}
	return ""
}
