package cluster

// ClaimLocation records which node holds a StatefulSet claim volume's data
// (DataDir/volumes/<ns>/... on that node). It lives apart from the pod
// because the data outlives the pod object: db-0 is deleted and recreated
// under a new UID on every move, restart of an ended pod or rolling update,
// and the new db-0 must go where its data is. Records are never removed
// with their pods, as Kubernetes keeps PVCs after a StatefulSet shrinks or
// goes.
type ClaimLocation struct {
	Namespace string `json:"namespace"`
	// Claim is the pod volume's ClaimSource.ClaimName ("data-db-0").
	Claim string `json:"claim"`
	// Node holds the data.
	Node string `json:"node"`
	// Released marks a deleted PersistentVolumeClaim's record: its node
	// deletes the data, then the record goes (a tombstone, so that the
	// decision to delete data is never inferred from an absence). A
	// released record places no pod.
	Released bool `json:"released,omitempty"`

	CreateIndex uint64 `json:"createIndex,omitempty"`
	ModifyIndex uint64 `json:"modifyIndex,omitempty"`
}

// Key is the record's "namespace/claim".
func (c *ClaimLocation) Key() string { return Key(c.Namespace, c.Claim) }

// Claims returns the names of a pod's claim volumes, in spec order.
func (p *Pod) Claims() []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.Claim != nil {
			out = append(out, v.Claim.ClaimName)
		}
	}
	return out
}

// ClaimLocation returns where a claim's data is.
func (s *State) ClaimLocation(namespace, claim string) (*ClaimLocation, bool) {
	return get[*ClaimLocation](s.claims, Key(namespace, claim))
}

// ClaimLocations returns every record, by namespace and claim.
func (s *State) ClaimLocations() []*ClaimLocation { return all[*ClaimLocation](s.claims, "") }

// VolumeNode returns the node holding pod p's claim data and the claim it
// found there first; "" when p has no claims or none was ever placed. All
// claims of a pod move together, so the first recorded one speaks for all.
func (s *State) VolumeNode(p *Pod) (node, claim string) {
	for _, c := range p.Claims() {
		if loc, ok := s.ClaimLocation(p.Namespace, c); ok && !loc.Released {
			return loc.Node, c
		}
	}
	return "", ""
}

// ClaimLocation returns a record as of this change.
func (t *Txn) ClaimLocation(namespace, claim string) (*ClaimLocation, bool) {
	return getTxn[*ClaimLocation](t.claims, Key(namespace, claim))
}

// VolumeNode is State.VolumeNode as of this change.
func (t *Txn) VolumeNode(p *Pod) (node, claim string) {
	for _, c := range p.Claims() {
		if loc, ok := t.ClaimLocation(p.Namespace, c); ok && !loc.Released {
			return loc.Node, c
		}
	}
	return "", ""
}

// PutClaimLocation stores c, stamping its indexes.
func (t *Txn) PutClaimLocation(c *ClaimLocation) {
	if old, ok := t.ClaimLocation(c.Namespace, c.Claim); ok {
		c.CreateIndex = old.CreateIndex
	} else {
		c.CreateIndex = t.index
	}
	c.ModifyIndex = t.index
	key := c.Key()
	t.claims.Insert([]byte(key), c)
	note(&t.changes.claims, key)
	t.changes.capacity = true
}

// DeleteClaimLocation forgets where a claim's data is.
func (t *Txn) DeleteClaimLocation(namespace, claim string) {
	key := Key(namespace, claim)
	t.claims.Delete([]byte(key))
	note(&t.changes.claims, key)
	t.changes.capacity = true
}

// RestoreClaimLocation stores c with the indexes it carries (snapshot
// restore).
func (t *Txn) RestoreClaimLocation(c *ClaimLocation) {
	ci, mi := c.CreateIndex, c.ModifyIndex
	t.PutClaimLocation(c)
	c.CreateIndex, c.ModifyIndex = ci, mi
}
