package cluster

import (
	"fmt"
	"testing"
)

// BenchmarkPlanTxn is what one 5,000-pod plan costs a member's state: a
// Txn that puts the pods and commits, on top of a state that holds 20,000
// pods already. "create" puts new placed pods (a scale-up); "status"
// replaces placed pods with a status change (the agents' reports).
// consensus and bench measure the same through Raft; this isolates the
// state and its change log.
func BenchmarkPlanTxn(b *testing.B) {
	const existing, plan = 20000, 5000
	owner := func(i int) *OwnerRef {
		return &OwnerRef{Kind: KindDeployment, Name: fmt.Sprintf("app-%d", i/1000), UID: fmt.Sprintf("uid-%d", i/1000)}
	}
	newPod := func(i int) *Pod {
		p := testPod(fmt.Sprintf("p-%06d", i), fmt.Sprintf("node-%04d", i%5000))
		p.Owner = owner(i)
		return p
	}
	tx := Empty().Txn(1)
	for i := range existing {
		tx.PutPod(newPod(i))
	}
	base := tx.Commit()
	created := make([]*Pod, plan)
	updated := make([]*Pod, plan)
	for i := range plan {
		created[i] = newPod(existing + i)
		p, _ := base.Pod("default", fmt.Sprintf("p-%06d", i))
		updated[i] = p.Clone()
		updated[i].Status.Ready = true
	}
	for _, bc := range []struct {
		name string
		pods []*Pod
	}{{"create", created}, {"status", updated}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				tx := base.Txn(base.Index() + 1)
				for _, p := range bc.pods {
					tx.PutPod(p)
				}
				if st := tx.Commit(); st.Index() != base.Index()+1 {
					b.Fatalf("committed index %d", st.Index())
				}
			}
		})
	}
}
