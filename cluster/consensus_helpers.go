package cluster

// Helpers the consensus package needs beyond the Txn's everyday methods:
// rebuilding a State from a snapshot keeps every object's indexes as they
// were, and allocating node subnets reads all nodes mid-change.

// Nodes returns every node as of this change, by name.
func (t *Txn) Nodes() []*Node { return allTxn[*Node](t.nodes, "") }

// RestoreNode stores n with the indexes it carries (for snapshot restore).
func (t *Txn) RestoreNode(n *Node) {
	ci, mi := n.CreateIndex, n.ModifyIndex
	t.restored()
	t.PutNode(n)
	n.CreateIndex, n.ModifyIndex = ci, mi
}

// RestoreWorkload stores w with the indexes it carries.
func (t *Txn) RestoreWorkload(w *Workload) {
	ci, mi := w.CreateIndex, w.ModifyIndex
	t.restored()
	t.PutWorkload(w)
	w.CreateIndex, w.ModifyIndex = ci, mi
}

// RestorePod stores p with the indexes it carries.
func (t *Txn) RestorePod(p *Pod) {
	ci, mi := p.CreateIndex, p.ModifyIndex
	t.restored()
	t.PutPod(p)
	p.CreateIndex, p.ModifyIndex = ci, mi
}

// RestoreService stores s with the indexes it carries.
func (t *Txn) RestoreService(s *Service) {
	ci, mi := s.CreateIndex, s.ModifyIndex
	t.restored()
	t.PutService(s)
	s.CreateIndex, s.ModifyIndex = ci, mi
}

// restored marks the change as a snapshot's: there is no earlier State to
// describe it against, so readers of the change feed start afresh.
func (t *Txn) restored() { t.changes.all = true }
