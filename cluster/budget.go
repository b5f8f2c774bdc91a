package cluster

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DisruptionBudget is a PodDisruptionBudget: how many of the pods its
// selector picks must stay healthy (ready) while pods are evicted on
// purpose (`shoal drain`). Exactly one of MinAvailable and MaxUnavailable
// is set, each a number or a percentage ("50%") of the selected pods.
type DisruptionBudget struct {
	MinAvailable   string            `json:"minAvailable,omitempty"`
	MaxUnavailable string            `json:"maxUnavailable,omitempty"`
	Selector       map[string]string `json:"selector"`
	// AlwaysAllowUnhealthy is unhealthyPodEvictionPolicy AlwaysAllow: a
	// pod that is not ready may always be evicted. Without it
	// (IfHealthyBudget, Kubernetes' default) only while the budget is met.
	AlwaysAllowUnhealthy bool `json:"alwaysAllowUnhealthy,omitempty"`
}

// BudgetStatus is what a budget allows now, as Kubernetes reports it.
type BudgetStatus struct {
	ExpectedPods       int `json:"expectedPods"`
	CurrentHealthy     int `json:"currentHealthy"`
	DesiredHealthy     int `json:"desiredHealthy"`
	DisruptionsAllowed int `json:"disruptionsAllowed"`
}

// ParseIntOrPercent reads "3" or "50%"; percent is true for the latter.
func ParseIntOrPercent(s string) (n int, percent bool, err error) {
	v, pct := strings.CutSuffix(s, "%")
	n, err = strconv.Atoi(v)
	if err != nil || n < 0 || (pct && n > 100) {
		return 0, false, fmt.Errorf("%q: expected a number of pods or a percentage from 0%% to 100%%", s)
	}
	return n, pct, nil
}

// scaled is n, or n% of total rounded up (Kubernetes rounds both fields'
// percentages up).
func scaled(s string, total int) int {
	n, pct, err := ParseIntOrPercent(s)
	if err != nil {
		return total // unreachable for a validated budget; fail safe: no disruption
	}
	if pct {
		return int(math.Ceil(float64(n) * float64(total) / 100))
	}
	return n
}

// Status evaluates the budget over the pods of its namespace: those it
// selects and that are not stopping are expected, the ready ones healthy.
func (b *DisruptionBudget) Status(pods []*Pod) BudgetStatus {
	var st BudgetStatus
	for _, p := range pods {
		if p.Terminating || !MatchesSelector(b.Selector, p.Labels) {
			continue
		}
		st.ExpectedPods++
		if p.Ready() {
			st.CurrentHealthy++
		}
	}
	if b.MinAvailable != "" {
		st.DesiredHealthy = scaled(b.MinAvailable, st.ExpectedPods)
	} else {
		st.DesiredHealthy = max(0, st.ExpectedPods-scaled(b.MaxUnavailable, st.ExpectedPods))
	}
	st.DisruptionsAllowed = max(0, st.CurrentHealthy-st.DesiredHealthy)
	return st
}

// Allows reports whether evicting p keeps the budget, and why not.
func (b *DisruptionBudget) Allows(p *Pod, pods []*Pod) (bool, string) {
	st := b.Status(pods)
	if !p.Ready() {
		if b.AlwaysAllowUnhealthy || st.CurrentHealthy >= st.DesiredHealthy {
			return true, ""
		}
		return false, fmt.Sprintf("needs %d healthy pods and has %d", st.DesiredHealthy, st.CurrentHealthy)
	}
	if st.DisruptionsAllowed > 0 {
		return true, ""
	}
	return false, fmt.Sprintf("needs %d healthy pods and has %d", st.DesiredHealthy, st.CurrentHealthy)
}
