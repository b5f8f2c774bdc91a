package scheduler

import (
	"fmt"

	"shoal/cluster"
)

// The claim rules, for pods with standalone PersistentVolumeClaims (a
// StatefulSet's claims are its pods' own and need none of this). Before the
// volume rule (volumes.go) places such a pod:
//
//   - every claim it names must exist and not be terminating;
//   - a ReadWriteOncePod claim admits one pod at a time;
//   - a claim whose data is being copied to another node (a user placed
//     with VolumeFrom) waits for the copy;
//   - a claim is copied off a cordoned node only once no pod uses it there,
//     so no one writes while the data moves;
//   - a claim bound in this pass sends its other pods to the same node.
//
// A claim that is terminating and used by no pod any more is deleted by
// the plan (DeleteClaims), which the FSM re-checks.

// claimUse is what this pass knows of one claim's users.
type claimUse struct {
	users []*cluster.Pod // placed pods that hold it (Pod.UsesClaim)
	node  string         // bound in this pass, to this node
}

// claimUses indexes the pods that hold standalone claims, once per pass.
func (p *pass) claimUses() map[string]*claimUse {
	if p.claims != nil {
		return p.claims
	}
	p.claims = map[string]*claimUse{}
	for _, pod := range p.allPods() {
		for _, c := range pod.StandaloneClaims() {
			if pod.UsesClaim(c) {
				u := p.claimUse(pod.Namespace, c)
				u.users = append(u.users, pod)
			}
		}
	}
	return p.claims
}

func (p *pass) claimUse(ns, claim string) *claimUse {
	k := cluster.Key(ns, claim)
	u := p.claims[k]
	if u == nil {
		u = &claimUse{}
		p.claims[k] = u
	}
	return u
}

// placeClaims places pod under the claim rules and then the volume rule
// (see placeVolumes for what it returns).
func (p *pass) placeClaims(pod *cluster.Pod) (node string, gpus []string, from, msg string) {
	claims := pod.StandaloneClaims()
	if len(claims) == 0 {
		return p.placeVolumes(pod)
	}
	uses := p.claimUses()
	if msg := p.claimsWait(pod, claims, uses); msg != "" {
		return "", nil, "", msg
	}
	if loc, _ := p.st.VolumeNode(pod); loc == "" {
		for _, c := range claims {
			if n := uses[cluster.Key(pod.Namespace, c)]; n != nil && n.node != "" {
				node, gpus, msg = p.placeOn(pod, n.node, c)
				p.claimed(pod, claims, node)
				return node, gpus, "", msg
			}
		}
	}
	node, gpus, from, msg = p.placeVolumes(pod)
	p.claimed(pod, claims, node)
	return node, gpus, from, msg
}

// claimed records that pod now holds its claims on node ("" when it was
// not placed).
func (p *pass) claimed(pod *cluster.Pod, claims []string, node string) {
	if node == "" {
		return
	}
	for _, c := range claims {
		u := p.claimUse(pod.Namespace, c)
		u.users = append(u.users, pod)
		u.node = node
	}
}

// claimsWait says why pod must wait for its claims, or "".
func (p *pass) claimsWait(pod *cluster.Pod, claims []string, uses map[string]*claimUse) string {
	bound := ""
	for _, c := range claims {
		o, ok := p.st.Object(cluster.KindPersistentVolumeClaim, pod.Namespace, c)
		switch {
		case !ok || o.Claim == nil:
			return fmt.Sprintf("persistentvolumeclaim %q not found", c)
		case o.Claim.Terminating:
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", c)
		}
		loc, ok := p.st.ClaimLocation(pod.Namespace, c)
		if ok && loc.Released && p.nodes[loc.Node] != nil {
			return fmt.Sprintf("waiting for node %s to delete the data of an earlier claim %q", loc.Node, c)
		}
		if ok && !loc.Released && p.nodes[loc.Node] != nil {
			if bound != "" && loc.Node != bound {
				return fmt.Sprintf("volumes of the pod are on different nodes (%s on node %s)", c, loc.Node)
			}
			bound = loc.Node
			if pod.DaemonNode != "" && loc.Node != pod.DaemonNode {
				return fmt.Sprintf("volume %s is on node %s, not on the daemon pod's node %s", c, loc.Node, pod.DaemonNode)
			}
		}
		u := uses[cluster.Key(pod.Namespace, c)]
		if u == nil {
			continue
		}
		for _, other := range u.users {
			switch {
			case other == pod:
			case o.Claim.OncePod():
				return fmt.Sprintf("persistentvolumeclaim %q is ReadWriteOncePod and used by pod %s", c, other.Name)
			case other.VolumeFrom != "":
				return fmt.Sprintf("waiting for volume %s to be copied to node %s", c, other.NodeName)
			case p.copies(bound):
				return fmt.Sprintf("waiting for pod %s to stop using volume %s on node %s, which is cordoned, before the volume moves", other.Name, c, bound)
			}
		}
	}
	return ""
}

// copies reports whether the volume rule would copy a claim off node: it
// is cordoned (or draining) yet Ready.
func (p *pass) copies(node string) bool {
	n := p.nodes[node]
	return n != nil && n.Status == cluster.NodeReady && n.Unschedulable
}

// releaseClaims deletes the terminating claims that no pod holds any more.
func (p *pass) releaseClaims() {
	var uses map[string]*claimUse
	for _, o := range p.st.Objects(cluster.KindPersistentVolumeClaim, "") {
		if o.Claim == nil || !o.Claim.Terminating {
			continue
		}
		if uses == nil {
			uses = p.claimUses()
		}
		if u := uses[cluster.Key(o.Namespace, o.Name)]; u != nil && len(u.users) > 0 {
			continue
		}
		p.plan.DeleteClaims = append(p.plan.DeleteClaims, cluster.ClaimRef{Namespace: o.Namespace, Name: o.Name, UID: o.UID})
	}
}
