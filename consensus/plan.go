package consensus

import (
	"fmt"
	"strings"

	"shoal/cluster"
)

// placer re-checks placements against the state being built. The
// scheduler decided on an older State; since then a node may have been
// cordoned, shrunk or filled by another plan, so nothing it proposes is
// trusted (swarmkit and nomad re-check at the write the same way).
type placer struct {
	txn   *cluster.Txn
	nodes map[string]*nodeRoom // computed once per command, then kept current
}

// nodeRoom is what is left on one node.
type nodeRoom struct {
	node *cluster.Node
	free cluster.Resources
	ids  map[string]bool   // the node's GPU IDs
	held map[string]string // GPU ID → key of the pod holding it
}

func newPlacer(txn *cluster.Txn) *placer {
	return &placer{txn: txn, nodes: map[string]*nodeRoom{}}
}

func (pl *placer) room(name string) (*nodeRoom, bool) {
	if r, ok := pl.nodes[name]; ok {
		return r, r != nil
	}
	n, ok := pl.txn.Node(name)
	if !ok {
		pl.nodes[name] = nil
		return nil, false
	}
	u := cluster.UsageOf(pl.txn.PodsOnNode(name))
	alloc := n.Allocatable
	if alloc.IsZero() {
		alloc = n.Capacity // a node that reported no reservations
	}
	r := &nodeRoom{node: n, free: alloc.Sub(u.Requested), ids: map[string]bool{}, held: u.GPUs}
	for _, g := range n.GPUs {
		r.ids[g.ID()] = true
	}
	pl.nodes[name] = r
	return r, true
}

// check says why pod p cannot go to node with gpus (copying its claim data
// from node from, if set), or "" if it can.
func (pl *placer) check(p *cluster.Pod, node string, gpus []string, from string) string {
	switch {
	case p.NodeName != "":
		return "pod is already on node " + p.NodeName
	case p.Terminating:
		return "pod is terminating"
	}
	r, ok := pl.room(node)
	if !ok {
		return "node " + node + " not found"
	}
	if p.DaemonNode != "" && node != p.DaemonNode {
		return "daemon pod is bound to node " + p.DaemonNode
	}
	// Daemon pods tolerate cordoning, as in Kubernetes.
	if !r.node.Schedulable() && (p.DaemonNode == "" || r.node.Status != cluster.NodeReady) {
		if r.node.Unschedulable && p.DaemonNode == "" {
			return "node " + node + " is cordoned"
		}
		return fmt.Sprintf("node %s is %s", node, r.node.Status)
	}
	if why := hardRules(p, r.node); why != "" {
		return why
	}
	if why := pl.checkClaims(p); why != "" {
		return why
	}
	if why := pl.checkVolume(p, node, from); why != "" {
		return why
	}
	req := p.Spec.Requests()
	if !r.free.Fits(req) {
		return fmt.Sprintf("node %s: insufficient %s", node, strings.Join(r.free.Insufficient(req), ", "))
	}
	if int64(len(gpus)) != req.GPU {
		return fmt.Sprintf("pod requests %d GPUs, placement names %d", req.GPU, len(gpus))
	}
	for i, g := range gpus {
		if !r.ids[g] {
			return fmt.Sprintf("node %s has no GPU %s", node, g)
		}
		if holder, ok := r.held[g]; ok {
			return fmt.Sprintf("GPU %s of node %s is held by pod %s", g, node, holder)
		}
		for _, h := range gpus[:i] {
			if h == g {
				return fmt.Sprintf("GPU %s named twice", g)
			}
		}
	}
	return ""
}

// hardRules re-checks the scheduler's node-level hard rules: the
// nodeSelector, the required node affinity and the taints that keep new pods off (NoSchedule,
// NoExecute).
func hardRules(p *cluster.Pod, n *cluster.Node) string {
	for k, v := range p.Spec.NodeSelector {
		if lv, ok := n.Labels[k]; !ok || lv != v {
			return fmt.Sprintf("node %s does not match node selector %s=%s", n.Name, k, v)
		}
	}
	if a := p.Spec.Affinity; a != nil && !a.NodeAffinity.RequiredMatch(n) {
		return fmt.Sprintf("node %s does not match the pod's required node affinity", n.Name)
	}
	if t, ok := cluster.Untolerated(n.SchedulingTaints(), p.Spec.Tolerations, cluster.TaintNoSchedule, cluster.TaintNoExecute); ok {
		return fmt.Sprintf("node %s had untolerated taint %s", n.Name, t)
	}
	return ""
}

// take records that p now holds its requests and GPUs on node.
func (pl *placer) take(p *cluster.Pod, node string, gpus []string) {
	r := pl.nodes[node]
	r.free = r.free.Sub(p.Spec.Requests())
	for _, g := range gpus {
		r.held[g] = p.Key()
	}
}

// place binds the stored pod p to node, or leaves it Pending with the
// reason. It reports the reason, "" on success.
func (pl *placer) place(p *cluster.Pod, node string, gpus []string, from string) string {
	why := pl.check(p, node, gpus, from)
	if why != "" {
		if p.NodeName == "" && !p.Terminating {
			msg := "placement rejected: " + why
			if p.SchedulingMessage != msg {
				p = p.Clone()
				p.SchedulingMessage = msg
				pl.txn.PutPod(p)
			}
		}
		return why
	}
	pl.take(p, node, gpus)
	p = p.Clone()
	p.NodeName = node
	p.GPUs = append([]string(nil), gpus...)
	p.SchedulingMessage = ""
	p.VolumeFrom = from
	pl.recordClaims(p)
	pl.txn.PutPod(p)
	return ""
}

// createPod stores a new pod (replacing a gone one of the same name). A
// pod that names its node is placed there if it fits, else left Pending.
// It reports whether the pod got the node it asked for (or asked none).
func (pl *placer) createPod(p *cluster.Pod) bool {
	node, gpus, from := p.NodeName, p.GPUs, p.VolumeFrom
	p.NodeName, p.GPUs, p.VolumeFrom = "", nil, ""
	p.Terminating = false
	p.Status = cluster.PodStatus{Phase: cluster.PodPending}
	if old, ok := pl.txn.Pod(p.Namespace, p.Name); ok && old.NodeName != "" {
		// The gone pod's resources are released already (it holds
		// nothing); drop the cache so the node is recomputed without it.
		delete(pl.nodes, old.NodeName)
	}
	if node == "" {
		pl.txn.PutPod(p)
		return true
	}
	if why := pl.check(p, node, gpus, from); why != "" {
		p.SchedulingMessage = "placement rejected: " + why
		pl.txn.PutPod(p)
		return false
	}
	pl.take(p, node, gpus)
	p.NodeName, p.GPUs, p.SchedulingMessage, p.VolumeFrom = node, gpus, "", from
	pl.recordClaims(p)
	pl.txn.PutPod(p)
	return true
}

func (c *ApplyPlan) apply(a *applier) Result {
	plan := c.Plan
	if plan == nil {
		return invalid("empty plan")
	}
	r := Result{Plan: &PlanResult{}}
	pr := r.Plan
	reject := func(ref cluster.PodRef, why string) {
		pr.Rejected = append(pr.Rejected, cluster.PendingReason{Pod: ref, Message: "placement rejected: " + why})
	}
	// Deletes and terminations first: the scheduler counted on the room
	// they free (a deleted pod releases it at once).
	for _, ref := range plan.Delete {
		p, ok := a.txn.Pod(orDefault(ref.Namespace), ref.Name)
		if !ok || p.UID != ref.UID {
			r.Skipped++
			continue
		}
		if !deletable(a.txn, p) {
			// Still running on a live node: stop it first, delete later.
			if a.terminate(p) {
				pr.Terminated++
			}
			r.Skipped++
			continue
		}
		a.txn.DeletePod(p.Namespace, p.Name)
		if a.pl != nil {
			delete(a.pl.nodes, p.NodeName) // its room grew
		}
		pr.Deleted++
	}
	for _, ref := range plan.Terminate {
		p, ok := a.txn.Pod(orDefault(ref.Namespace), ref.Name)
		if !ok || p.UID != ref.UID || !a.terminate(p) {
			r.Skipped++
			continue
		}
		pr.Terminated++
	}
	for _, pend := range plan.Pending {
		p, ok := a.txn.Pod(orDefault(pend.Pod.Namespace), pend.Pod.Name)
		if !ok || p.UID != pend.Pod.UID || p.NodeName != "" {
			r.Skipped++
			continue
		}
		if p.SchedulingMessage != pend.Message {
			p = p.Clone()
			p.SchedulingMessage = pend.Message
			a.txn.PutPod(p)
		}
		pr.Pending++
	}
	pl := applyResizes(a, plan, &r) // before placements, as the scheduler counted them
	for _, p := range plan.Create {
		if p == nil || p.Name == "" || p.UID == "" {
			r.Skipped++
			continue
		}
		p.Namespace = orDefault(p.Namespace)
		if old, ok := a.txn.Pod(p.Namespace, p.Name); ok {
			if old.UID == p.UID {
				r.Skipped++ // already created: a retried plan
				continue
			}
			if !gone(old) {
				reject(p.Ref(), fmt.Sprintf("pod %s exists with UID %s", p.Key(), old.UID))
				continue
			}
		}
		node := p.NodeName
		pr.Created++
		if pl.createPod(p) {
			if node != "" {
				pr.Placed++
			}
		} else {
			reject(p.Ref(), strings.TrimPrefix(p.SchedulingMessage, "placement rejected: "))
		}
	}
	for _, pm := range plan.Place {
		p, ok := a.txn.Pod(orDefault(pm.Pod.Namespace), pm.Pod.Name)
		if !ok {
			reject(pm.Pod, "pod not found")
			continue
		}
		if p.UID != pm.Pod.UID {
			reject(pm.Pod, "pod was replaced (UID "+p.UID+")")
			continue
		}
		if why := pl.place(p, pm.Node, pm.GPUs, pm.VolumeFrom); why != "" {
			reject(pm.Pod, why)
			continue
		}
		pr.Placed++
	}
	r.Changed = pr.Created + pr.Placed + pr.Pending + pr.Terminated + pr.Deleted + applyControllers(a, plan, &r.Skipped) +
		pr.Resized
	return r
}

// applyControllers applies what the plan says of other objects than pods:
// Jobs, CronJobs' runs, claims.
func applyControllers(a *applier, plan *cluster.Plan, skipped *int) int {
	return applyJobs(a, plan, skipped) + applyCronRuns(a, plan, skipped) + applyDeleteClaims(a, plan, skipped) +
		applyReadiness(a, plan, skipped)
}

// deletable reports whether a pod may leave the state: nothing holds it on
// a node, or its node is gone for good.
func deletable(txn *cluster.Txn, p *cluster.Pod) bool {
	if !p.Holds() {
		return true
	}
	n, ok := txn.Node(p.NodeName)
	return !ok || n.Status == cluster.NodeDown
}

// applyReadiness stores the leader's availability stamps of pods that are
// still ready.
func applyReadiness(a *applier, plan *cluster.Plan, skipped *int) int {
	n := 0
	for _, pr := range plan.Readiness {
		p, ok := a.txn.Pod(orDefault(pr.Pod.Namespace), pr.Pod.Name)
		if !ok || p.UID != pr.Pod.UID || !p.Ready() || pr.ReadySince.IsZero() ||
			(p.ReadySince.Equal(pr.ReadySince) && p.Available == pr.Available) {
			*skipped++
			continue
		}
		// A later stamp never moves ReadySince: the pod was ready since the
		// first one.
		if !p.ReadySince.IsZero() && !p.ReadySince.Equal(pr.ReadySince) {
			*skipped++
			continue
		}
		p = p.Clone()
		p.ReadySince, p.Available = pr.ReadySince, pr.Available
		a.txn.PutPod(p)
		n++
	}
	return n
}
