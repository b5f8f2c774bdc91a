package cluster

import "testing"

func TestDisruptionBudget(t *testing.T) {
	pod := func(name string, ready, terminating bool) *Pod {
		p := &Pod{Namespace: "default", Name: name, Labels: map[string]string{"app": "zk"},
			Status: PodStatus{Phase: PodRunning, Ready: ready}, Terminating: terminating}
		return p
	}
	three := []*Pod{pod("a", true, false), pod("b", true, false), pod("c", true, false)}
	twoOfThree := []*Pod{pod("a", true, false), pod("b", true, false), pod("c", false, false)}
	sel := map[string]string{"app": "zk"}
	tests := []struct {
		name      string
		b         DisruptionBudget
		pods      []*Pod
		evict     *Pod
		want      BudgetStatus
		allowed   bool
		unhealthy bool
	}{
		{"minAvailable 2 of 3 ready", DisruptionBudget{MinAvailable: "2", Selector: sel}, three, three[0],
			BudgetStatus{3, 3, 2, 1}, true, false},
		{"minAvailable 3 of 3", DisruptionBudget{MinAvailable: "3", Selector: sel}, three, three[0],
			BudgetStatus{3, 3, 3, 0}, false, false},
		{"maxUnavailable 1", DisruptionBudget{MaxUnavailable: "1", Selector: sel}, three, three[0],
			BudgetStatus{3, 3, 2, 1}, true, false},
		{"maxUnavailable 1 with one not ready", DisruptionBudget{MaxUnavailable: "1", Selector: sel}, twoOfThree, twoOfThree[0],
			BudgetStatus{3, 2, 2, 0}, false, false},
		{"percent rounds up", DisruptionBudget{MinAvailable: "50%", Selector: sel}, three, three[0],
			BudgetStatus{3, 3, 2, 1}, true, false},
		{"an unready pod goes while the budget is met", DisruptionBudget{MaxUnavailable: "1", Selector: sel}, twoOfThree, twoOfThree[2],
			BudgetStatus{3, 2, 2, 0}, true, false},
		{"an unready pod stays when the budget is broken", DisruptionBudget{MinAvailable: "3", Selector: sel}, twoOfThree, twoOfThree[2],
			BudgetStatus{3, 2, 3, 0}, false, false},
		{"AlwaysAllow lets an unready pod go", DisruptionBudget{MinAvailable: "3", Selector: sel, AlwaysAllowUnhealthy: true}, twoOfThree, twoOfThree[2],
			BudgetStatus{3, 2, 3, 0}, true, false},
		{"stopping pods are not expected", DisruptionBudget{MinAvailable: "2", Selector: sel},
			[]*Pod{pod("a", true, false), pod("b", true, true)}, pod("a", true, false), BudgetStatus{1, 1, 2, 0}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Status(tt.pods); got != tt.want {
				t.Errorf("status %+v, want %+v", got, tt.want)
			}
			if ok, why := tt.b.Allows(tt.evict, tt.pods); ok != tt.allowed {
				t.Errorf("allows = %v (%s), want %v", ok, why, tt.allowed)
			}
		})
	}
	for _, bad := range []string{"-1", "101%", "x", ""} {
		if _, _, err := ParseIntOrPercent(bad); err == nil {
			t.Errorf("ParseIntOrPercent(%q) accepted", bad)
		}
	}
}
