package scheduler

import (
	"slices"
	"testing"

	"shoal/cluster"
)

// TestTerminatingOnDownNode: a terminating pod on a Down node leaves the
// state (its node will never report it stopped), except a StatefulSet pod
// whose node is not fenced: that one may still run there.
func TestTerminatingOnDownNode(t *testing.T) {
	down := func(n *cluster.Node) { n.Status = cluster.NodeDown }
	for _, tc := range []struct {
		name    string
		kind    cluster.WorkloadKind
		fenced  bool
		deleted bool
	}{
		{"deployment pod", cluster.KindDeployment, false, true},
		{"statefulset pod, node not fenced", cluster.KindStatefulSet, false, false},
		{"statefulset pod, node fenced", cluster.KindStatefulSet, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mkWorkload(tc.kind, "app", 1, cluster.Resources{MilliCPU: 100})
			p := mkPod(w, "app-0", "dead", true, t0)
			p.Terminating = true
			st := mkState([]*cluster.Node{mkNode("dead", 4000, 1<<30, down), mkNode("alive", 4000, 1<<30)}, []*cluster.Workload{w}, p)
			opts := Options{}
			if tc.fenced {
				opts.Fenced = map[string]bool{"dead": true}
			}
			plan := opts.Compute(st, t0, NewRandIDs(1, 1))
			if got := slices.Contains(refNames(plan.Delete), "app-0"); got != tc.deleted {
				t.Fatalf("deleted=%v, want %v (plan delete %v)", got, tc.deleted, refNames(plan.Delete))
			}
		})
	}
}
