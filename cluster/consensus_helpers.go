package cluster

// Helpers the consensus package needs beyond the Txn's everyday methods:
// rebuilding a State from a snapshot keeps every object's indexes as they
// were, and allocating node subnets reads all nodes mid-change.

// Nodes returns every node as of this change, by name.
func (t *Txn) Nodes() []*Node { return allTxn[*Node](t.nodes, "") }

// RestoreNode stores n with the indexes it carries (for snapshot restore).
func (t *Txn) RestoreNode(n *Node) { t.restored(); t.copyNode(n) }

// RestoreWorkload stores w with the indexes it carries.
func (t *Txn) RestoreWorkload(w *Workload) { t.restored(); t.copyWorkload(w) }

// RestorePod stores p with the indexes it carries.
func (t *Txn) RestorePod(p *Pod) { t.restored(); t.copyPod(p) }

// RestoreService stores s with the indexes it carries.
func (t *Txn) RestoreService(s *Service) { t.restored(); t.copyService(s) }

// The copy* methods put an object that is a copy of one another State
// holds (a snapshot's record, a view's change): it keeps the indexes it
// carries, where a put stamps the transaction's.

func (t *Txn) copyNode(n *Node) {
	ci, mi := n.CreateIndex, n.ModifyIndex
	t.PutNode(n)
	n.CreateIndex, n.ModifyIndex = ci, mi
}

func (t *Txn) copyWorkload(w *Workload) {
	ci, mi := w.CreateIndex, w.ModifyIndex
	t.PutWorkload(w)
	w.CreateIndex, w.ModifyIndex = ci, mi
}

func (t *Txn) copyPod(p *Pod) {
	ci, mi := p.CreateIndex, p.ModifyIndex
	t.PutPod(p)
	p.CreateIndex, p.ModifyIndex = ci, mi
}

func (t *Txn) copyService(s *Service) {
	ci, mi := s.CreateIndex, s.ModifyIndex
	t.PutService(s)
	s.CreateIndex, s.ModifyIndex = ci, mi
}

// copyObject stores o as it is (objects carry their indexes).
func (t *Txn) copyObject(o *Object) {
	key := o.Key()
	t.objects.Insert([]byte(key), o)
	t.objectChanged(o.Kind, key)
}

// restored marks the change as a snapshot's: there is no earlier State to
// describe it against, so readers of the change feed start afresh.
func (t *Txn) restored() { t.changes.all = true }
