package agent

import (
	"slices"
	"testing"
	"time"

	"shoal/cluster"
)

func TestEvictionClock(t *testing.T) {
	sec := func(s int64) *int64 { return &s }
	pod := func(name, node string, tols ...cluster.Toleration) *cluster.Pod {
		return &cluster.Pod{Namespace: "default", Name: name, UID: "uid-" + name, NodeName: node,
			Spec: cluster.PodSpec{Tolerations: tols}, Status: cluster.PodStatus{Phase: cluster.PodRunning}}
	}
	maint := cluster.Taint{Key: "maint", Effect: cluster.TaintNoExecute}
	state := func(taints []cluster.Taint, pods ...*cluster.Pod) *cluster.State {
		tx := cluster.Empty().Txn(1)
		tx.PutNode(&cluster.Node{Name: "a", Status: cluster.NodeReady, Taints: taints})
		tx.PutNode(&cluster.Node{Name: "b", Status: cluster.NodeReady})
		for _, p := range pods {
			tx.PutPod(p)
		}
		return tx.Commit()
	}
	plain := pod("plain", "a")
	forever := pod("forever", "a", cluster.Toleration{Key: "maint", Operator: cluster.TolerationExists})
	bounded := pod("bounded", "a", cluster.Toleration{Key: "maint", Operator: cluster.TolerationExists, TolerationSeconds: sec(30)})
	elsewhere := pod("elsewhere", "b")
	stopping := pod("stopping", "a")
	stopping.Terminating = true
	st := state([]cluster.Taint{maint}, plain, forever, bounded, elsewhere, stopping)

	t0 := time.Now()
	c := evictionClock{}
	names := func(refs []cluster.PodRef) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, step := range []struct {
		after time.Duration
		st    *cluster.State
		want  []string
	}{
		{0, st, []string{"plain"}},
		{29 * time.Second, st, []string{"plain"}},
		{30 * time.Second, st, []string{"bounded", "plain"}},
		// The taint removed, the clock forgets; put back, it counts afresh.
		{31 * time.Second, state(nil, plain, forever, bounded), nil},
		{32 * time.Second, state([]cluster.Taint{maint}, forever, bounded), nil},
		{61 * time.Second, state([]cluster.Taint{maint}, forever, bounded), nil},
		{62 * time.Second, state([]cluster.Taint{maint}, forever, bounded), []string{"bounded"}},
	} {
		if got := names(c.due(step.st, t0.Add(step.after))); !slices.Equal(got, step.want) {
			t.Fatalf("after %v: due %v, want %v", step.after, got, step.want)
		}
	}
	if len(c) != 1 {
		t.Fatalf("clock holds %v", c)
	}
}
