package consensus

import (
	"fmt"

	"shoal/cluster"
)

// The volume node rule, re-checked at the write like every other part of a
// placement: a StatefulSet pod goes where its claim data is; elsewhere only
// when that node is cordoned (or draining) yet Ready, so the data can be
// copied from it, and the placement says so (VolumeFrom). The scheduler
// decided on an older State: the node may have gone down or been uncordoned
// since.

// checkVolume says why p cannot go to node copying its data from node
// from, or "" if it can.
func (pl *placer) checkVolume(p *cluster.Pod, node, from string) string {
	loc, claim := pl.txn.VolumeNode(p)
	if loc == "" {
		if from != "" {
			return fmt.Sprintf("pod has no volume data on node %s to copy", from)
		}
		return ""
	}
	n, ok := pl.txn.Node(loc)
	if !ok {
		// The node was removed from the cluster, and its data with it: the
		// pod starts afresh wherever it fits (recordClaims moves the claim).
		if from != "" {
			return "node " + from + " not found"
		}
		return ""
	}
	switch {
	case node == loc && from != "":
		return fmt.Sprintf("pod placed on node %s, which holds its volume %s, cannot copy it from node %s", node, claim, from)
	case node == loc:
		return ""
	case from != loc:
		return fmt.Sprintf("volume %s is on node %s", claim, loc)
	case n.Status != cluster.NodeReady:
		return fmt.Sprintf("node %s, which holds volume %s, is %s", loc, claim, n.Status)
	case !n.Unschedulable:
		return fmt.Sprintf("node %s, which holds volume %s, is schedulable: the pod goes there", loc, claim)
	}
	return ""
}

// recordClaims notes where a just-placed pod's claims live: on its node,
// for a claim placed for the first time (or whose node left the cluster).
// A claim being copied (VolumeFrom) stays where it is until the new node
// reports the copy done (volumesFetched).
func (pl *placer) recordClaims(p *cluster.Pod) {
	for _, c := range p.Claims() {
		if loc, ok := pl.txn.ClaimLocation(p.Namespace, c); ok && !loc.Released {
			if _, live := pl.txn.Node(loc.Node); live {
				continue
			}
		}
		pl.txn.PutClaimLocation(&cluster.ClaimLocation{Namespace: p.Namespace, Claim: c, Node: p.NodeName})
	}
}

// volumesFetched moves p's claims to p's node when that node reports it
// holds the copy from p.VolumeFrom; it reports whether it did, and the
// caller then clears VolumeFrom. Only after that does the node start the
// pod's containers, so the record never points at a node whose data is
// older than the running pod's.
func (a *applier) volumesFetched(p *cluster.Pod, st cluster.PodStatus) bool {
	if !st.VolumesFetched || p.VolumeFrom == "" {
		return false
	}
	for _, c := range p.Claims() {
		a.txn.PutClaimLocation(&cluster.ClaimLocation{Namespace: p.Namespace, Claim: c, Node: p.NodeName})
	}
	return true
}
