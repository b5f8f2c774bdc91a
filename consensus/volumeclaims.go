package consensus

import (
	"fmt"
	"slices"

	"shoal/cluster"
)

// Standalone PersistentVolumeClaims, at the write: the claim rules the
// scheduler follows (scheduler/claims.go) are re-checked for every
// placement, a claim in use is only marked for deletion, and a deleted
// claim leaves a tombstone (ClaimLocation.Released) until its node has
// removed the data (ForgetClaims).

// ForgetClaims is sent by a node that found released claims of its own
// (tombstones): each is removed if it still is the tombstone the node saw,
// and only then does the node delete the data, so a claim bound anew in
// the meantime keeps its own.
type ForgetClaims struct {
	Node   string           `json:"node"`
	Claims []ForgottenClaim `json:"claims"`
}

// ForgottenClaim is one tombstone as the node saw it.
type ForgottenClaim struct {
	Namespace   string `json:"namespace"`
	Claim       string `json:"claim"`
	ModifyIndex uint64 `json:"modifyIndex"`
}

func (*ForgetClaims) Type() CommandType { return ForgetClaimsType }

func (c *ForgetClaims) apply(a *applier) Result {
	if c.Node == "" {
		return invalid("forget claims: node required")
	}
	var r Result
	for _, f := range c.Claims {
		loc, ok := a.txn.ClaimLocation(f.Namespace, f.Claim)
		if !ok || !loc.Released || loc.Node != c.Node || loc.ModifyIndex != f.ModifyIndex {
			r.Skipped++
			continue
		}
		a.txn.DeleteClaimLocation(f.Namespace, f.Claim)
		r.Changed++
	}
	return r
}

// checkClaims says why p may not be placed now because of its standalone
// claims, or "".
func (pl *placer) checkClaims(p *cluster.Pod) string {
	claims := p.StandaloneClaims()
	if len(claims) == 0 {
		return ""
	}
	pods := pl.txn.PodsIn(p.Namespace)
	for _, c := range claims {
		o, ok := pl.txn.Object(cluster.KindPersistentVolumeClaim, p.Namespace, c)
		switch {
		case !ok || o.Claim == nil:
			return fmt.Sprintf("persistentvolumeclaim %q not found", c)
		case o.Claim.Terminating:
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", c)
		}
		if loc, ok := pl.txn.ClaimLocation(p.Namespace, c); ok && loc.Released {
			if _, live := pl.txn.Node(loc.Node); live {
				return fmt.Sprintf("waiting for node %s to delete the data of an earlier claim %q", loc.Node, c)
			}
		}
		for _, other := range pods {
			if other.UID == p.UID || !other.UsesClaim(c) {
				continue
			}
			if o.Claim.OncePod() {
				return fmt.Sprintf("persistentvolumeclaim %q is ReadWriteOncePod and used by pod %s", c, other.Name)
			}
			if other.VolumeFrom != "" {
				return fmt.Sprintf("volume %s is being copied to node %s", c, other.NodeName)
			}
		}
	}
	return ""
}

// claimUsers names the pods that hold a claim (a claim they hold cannot go).
func claimUsers(txn *cluster.Txn, ns, claim string) []string {
	return cluster.ClaimUsers(txn.PodsIn(ns), claim)
}

// checkClaimPut refuses a claim that cannot be stored: a missing spec, a
// changed one (Kubernetes' claims are immutable but for their size), or a
// name a StatefulSet pod's claim has.
func (a *applier) checkClaimPut(o *cluster.Object) error {
	if o.Claim == nil {
		return fmt.Errorf("%w: persistentvolumeclaim %s/%s: spec required", ErrInvalid, o.Namespace, o.Name)
	}
	old, ok := a.txn.Object(cluster.KindPersistentVolumeClaim, o.Namespace, o.Name)
	if !ok {
		if loc, ok := a.txn.ClaimLocation(o.Namespace, o.Name); ok && !loc.Released {
			return fmt.Errorf("%w: persistentvolumeclaim %s/%s: the name is a StatefulSet pod's claim (its data is on node %s)", ErrInvalid, o.Namespace, o.Name, loc.Node)
		}
		return nil
	}
	was, now := old.Claim, o.Claim
	if was == nil {
		return nil
	}
	if !slices.Equal(was.AccessModes, now.AccessModes) || was.VolumeMode != now.VolumeMode ||
		!equalPtr(was.StorageClassName, now.StorageClassName) {
		return fmt.Errorf("%w: persistentvolumeclaim %s/%s: spec is immutable after creation except resources.requests", ErrInvalid, o.Namespace, o.Name)
	}
	// A claim being deleted stays so, as in Kubernetes.
	if was.Terminating {
		now.Terminating = true
	}
	return nil
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// deleteClaim deletes a claim no pod uses, or marks it Terminating.
func (a *applier) deleteClaim(o *cluster.Object) Result {
	if users := claimUsers(a.txn, o.Namespace, o.Name); len(users) > 0 {
		if o.Claim != nil && !o.Claim.Terminating {
			o = o.Clone()
			o.Claim.Terminating = true
			a.txn.PutObject(o)
		}
		return Result{Changed: 1}
	}
	a.releaseClaim(o)
	return Result{Changed: 1}
}

// releaseClaim removes a claim; its location becomes a tombstone, so that
// its node deletes the data.
func (a *applier) releaseClaim(o *cluster.Object) {
	a.txn.DeleteObject(cluster.KindPersistentVolumeClaim, o.Namespace, o.Name)
	if loc, ok := a.txn.ClaimLocation(o.Namespace, o.Name); ok && !loc.Released {
		loc = &cluster.ClaimLocation{Namespace: loc.Namespace, Claim: loc.Claim, Node: loc.Node, Released: true}
		a.txn.PutClaimLocation(loc)
	}
}

// applyDeleteClaims deletes the terminating claims of a plan that no pod
// holds any more.
func applyDeleteClaims(a *applier, plan *cluster.Plan, skipped *int) int {
	n := 0
	for _, ref := range plan.DeleteClaims {
		o, ok := a.txn.Object(cluster.KindPersistentVolumeClaim, orDefault(ref.Namespace), ref.Name)
		if !ok || o.UID != ref.UID || o.Claim == nil || !o.Claim.Terminating || len(claimUsers(a.txn, o.Namespace, o.Name)) > 0 {
			*skipped++
			continue
		}
		a.releaseClaim(o)
		n++
	}
	return n
}
