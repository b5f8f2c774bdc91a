package consensus

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"shoal/cluster"
)

// Defaults for cluster settings left empty.
const ()

// applier carries one log entry's change: every command of a batch writes
// into the same Txn, which becomes the next State when the entry is done.
// Nothing here may read a clock or a random source: every member must reach
// the same State from the same log.
type applier struct {
	txn *cluster.Txn
	// streamed: the entry came from the state stream, which leaves the
	// CA key out (cakey.go).
	streamed bool
	// cidrs holds the PodCIDRs in use, built on the first allocation in the
	// entry; cidrNext is where the search for a free /24 resumes, so
	// registering thousands of nodes in one entry stays linear.
	cidrs    map[string]bool
	cidrNext int
	// pl is the room left on nodes, shared by consecutive ApplyPlans of
	// one entry (proposers pipeline plans, so a batch often holds several
	// and each would otherwise recount the pods of every node it touches).
	// Any other command may change usage, so applyOne drops it first.
	pl *placer
}

func (a *applier) placer() *placer {
	if a.pl == nil {
		a.pl = newPlacer(a.txn)
	}
	return a.pl
}

func notFound(what, namespace, name string) error {
	if namespace == "" {
		return fmt.Errorf("%s %s: %w", what, name, ErrNotFound)
	}
	return fmt.Errorf("%s %s/%s: %w", what, namespace, name, ErrNotFound)
}

func invalid(format string, args ...any) Result {
	return Result{Err: fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))}
}

func orDefault(ns string) string {
	if ns == "" {
		return cluster.DefaultNamespace
	}
	return ns
}

func configWithDefaults(c cluster.Config) cluster.Config {
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = cluster.DefaultClusterCIDR
	}
	if c.Domain == "" {
		c.Domain = cluster.DefaultDomain
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = cluster.DefaultServiceCIDR
	}
	return c
}

// podPrefix parses the cluster CIDR, which must be IPv4 and hold at least
// one /24.
func podPrefix(cidr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return p, fmt.Errorf("%w: cluster CIDR %q: %v", ErrInvalid, cidr, err)
	}
	if !p.Addr().Is4() || p.Bits() > 24 {
		return p, fmt.Errorf("%w: cluster CIDR %q must be IPv4 and /24 or larger", ErrInvalid, cidr)
	}
	return p.Masked(), nil
}

func (c *SetConfig) apply(a *applier) Result {
	cfg := configWithDefaults(c.Config)
	if _, err := podPrefix(cfg.ClusterCIDR); err != nil {
		return Result{Err: err}
	}
	if err := cluster.CheckServiceCIDR(cfg.ServiceCIDR, cfg.ClusterCIDR); err != nil {
		return Result{Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	// Nodes keep the subnets they have; only new nodes use a new CIDR.
	a.txn.SetConfig(cfg)
	a.cidrNext = 0
	return Result{Changed: 1}
}

func kindName(k cluster.WorkloadKind) string { return strings.ToLower(string(k)) }

func (c *PutWorkload) apply(a *applier) Result {
	w := c.Workload
	if w == nil || w.Name == "" || w.UID == "" {
		return invalid("workload needs a name and a UID")
	}
	if !slices.Contains([]cluster.WorkloadKind{cluster.KindDeployment, cluster.KindStatefulSet, cluster.KindDaemonSet, cluster.KindReplicaSet, cluster.KindJob, cluster.KindCronJob}, w.Kind) {
		return invalid("workload kind %q", w.Kind)
	}
	if (w.Kind == cluster.KindJob) != (w.Job != nil) || (w.Kind == cluster.KindCronJob) != (w.Cron != nil) {
		return invalid("workload %s: a Job has a job spec, a CronJob a cron spec, and nothing else either", w.Name)
	}
	w.Namespace = orDefault(w.Namespace)
	if err := a.nsMissing(w.Namespace); err != nil {
		return Result{Err: err}
	}
	w.TemplateHash = w.TemplateID()
	old, ok := a.txn.Workload(w.Kind, w.Namespace, w.Name)
	resized := ok && resizeInPlace(old, w)
	if resized {
		// Only the containers' cpu and memory changed: the pods are
		// resized where they run, so the template keeps its identity (no
		// rollout, no new revision).
		w.TemplateHash = old.TemplateHash
	}
	switch {
	case !ok:
		w.Generation = max(w.Generation, 1)
		old = nil
	case old.TemplateHash != w.TemplateHash || resized:
		// A new template starts a rollout; the old one joins the history.
		w.UID, w.CreatedAt = old.UID, old.CreatedAt
		w.Generation = old.Generation + 1
	default:
		w.UID, w.CreatedAt = old.UID, old.CreatedAt
		w.Generation = old.Generation
	}
	if w.Kind == cluster.KindJob {
		if r, ok := putJob(w, old); !ok {
			return r
		}
	}
	// The leader's records, never a client's.
	w.CronStatus = nil
	if old != nil {
		w.CronStatus = old.CronStatus.Clone()
	}
	w.TakeHistory(old)
	trimHistory(w)
	a.txn.PutWorkload(w)
	return Result{Changed: 1}
}

// resizeInPlace reports whether new differs from old only in what pods can
// take in place (see cluster.ResizeOnly). Only the kinds whose controller
// compares pods with the current template resize; a Job's template is
// immutable, a CronJob's reaches only its future Jobs.
func resizeInPlace(old, new *cluster.Workload) bool {
	switch new.Kind {
	case cluster.KindDeployment, cluster.KindStatefulSet, cluster.KindDaemonSet, cluster.KindReplicaSet:
	default:
		return false
	}
	return old.TemplateHash != new.TemplateHash && maps.Equal(old.TemplateLabels, new.TemplateLabels) &&
		maps.Equal(old.TemplateAnnotations, new.TemplateAnnotations) && cluster.ResizeOnly(old.Template, new.Template)
}

// putJob keeps a Job's status (the leader's to write, never a client's)
// and refuses a new pod template, which Kubernetes holds immutable: the
// Job's pods ran the old one. ok is false with the refusal.
func putJob(w, old *cluster.Workload) (Result, bool) {
	w.JobStatus, w.Owner = nil, nil
	if old == nil {
		return Result{}, true
	}
	w.Owner = old.Owner
	if old.TemplateHash != w.TemplateHash {
		return invalid("job %s/%s: spec.template is immutable (delete the Job and create it again)", w.Namespace, w.Name), false
	}
	w.JobStatus = old.JobStatus.Clone()
	return Result{}, true
}

// applyCronRuns starts the CronJobs' Jobs: each slot at most once, since
// the slot is recorded in the same entry as its Job and a slot not after
// the last recorded one is refused (a new leader that decided on an older
// state).
func applyCronRuns(a *applier, plan *cluster.Plan, skipped *int) (changed int) {
	for _, run := range plan.CronRuns {
		cj, ok := a.txn.Workload(cluster.KindCronJob, orDefault(run.CronJob.Namespace), run.CronJob.Name)
		if !ok || cj.UID != run.CronJob.UID || run.Job == nil || run.Job.Kind != cluster.KindJob {
			*skipped++
			continue
		}
		if last := cj.CronStatus; last != nil && last.LastScheduleTime != nil && !run.Slot.After(*last.LastScheduleTime) {
			*skipped++
			continue
		}
		cj = cj.Clone()
		cj.CronStatus = &cluster.CronJobStatus{LastScheduleTime: &run.Slot}
		a.txn.PutWorkload(cj)
		changed++
		if _, taken := a.txn.Workload(cluster.KindJob, cj.Namespace, run.Job.Name); taken {
			continue // the slot's Job exists (made by hand?): the slot is done
		}
		job := run.Job.Clone()
		if r := (&PutWorkload{Workload: job}).apply(a); r.Err != nil {
			continue // the namespace went: the slot is still recorded
		}
		// PutWorkload keeps the owner only of a stored Job; this one is new.
		if j, ok := a.txn.Workload(cluster.KindJob, job.Namespace, job.Name); ok {
			j = j.Clone()
			j.Owner = &cluster.OwnerRef{Kind: cluster.KindCronJob, Name: cj.Name, UID: cj.UID}
			a.txn.PutWorkload(j)
		}
		changed++
	}
	return changed
}

// applyJobs stores the leader's new Job statuses and deletes the Jobs whose
// time to live after finishing is over; their pods are left as orphans for
// the scheduler to stop.
func applyJobs(a *applier, plan *cluster.Plan, skipped *int) (changed int) {
	for _, u := range plan.Jobs {
		w, ok := a.txn.Workload(cluster.KindJob, orDefault(u.Namespace), u.Name)
		if !ok || w.UID != u.UID || u.Status == nil {
			*skipped++
			continue
		}
		w = w.Clone()
		w.JobStatus = u.Status.Clone()
		a.txn.PutWorkload(w)
		changed++
	}
	for _, ref := range plan.DeleteJobs {
		w, ok := a.txn.Workload(cluster.KindJob, orDefault(ref.Namespace), ref.Name)
		if !ok || w.UID != ref.UID {
			*skipped++
			continue
		}
		a.txn.DeleteWorkload(cluster.KindJob, w.Namespace, w.Name)
		changed++
	}
	return changed
}

// trimHistory drops the oldest revisions until the workload fits in
// MaxObjectBytes: the history is part of the object every member stores
// and every snapshot holds. The apply refused a workload too large on its
// own, so an empty history always fits.
func trimHistory(w *cluster.Workload) {
	for len(w.History) > 0 {
		n, err := EncodedSize(&PutWorkload{Workload: w})
		if err == nil && n <= MaxObjectBytes {
			return
		}
		w.History = w.History[1:]
	}
	w.History = nil
}

func (c *DeleteWorkload) apply(a *applier) Result {
	ns := orDefault(c.Namespace)
	w, ok := a.txn.Workload(c.Kind, ns, c.Name)
	if !ok {
		return Result{Err: notFound(kindName(c.Kind), ns, c.Name)}
	}
	a.txn.DeleteWorkload(c.Kind, ns, c.Name)
	r := Result{Changed: 1}
	for _, p := range a.txn.PodsOwnedBy(w.UID) {
		if a.terminate(p) {
			r.Changed++
		}
	}
	return r
}

// terminate removes an unplaced pod (nothing runs it) and asks the node of
// a placed one to stop it. It reports whether anything changed.
func (a *applier) terminate(p *cluster.Pod) bool {
	if p.NodeName == "" {
		a.txn.DeletePod(p.Namespace, p.Name)
		return true
	}
	if p.Terminating {
		return false
	}
	p = p.Clone()
	p.Terminating = true
	a.txn.PutPod(p)
	return true
}

func (c *PutService) apply(a *applier) Result {
	s := c.Service
	if s == nil || s.Name == "" || s.UID == "" {
		return invalid("service needs a name and a UID")
	}
	s.Namespace = orDefault(s.Namespace)
	if err := a.nsMissing(s.Namespace); err != nil {
		return Result{Err: err}
	}
	old, ok := a.txn.Service(s.Namespace, s.Name)
	if ok {
		s.UID = old.UID
	} else {
		old = nil
	}
	// Node ports are the cluster's to hand out: kept from the old
	// version, checked against every other service's, allocated where
	// missing, all in the FSM so that concurrent applies cannot both take
	// one.
	s.LoadBalancerIngress = nil
	cluster.KeepNodePorts(s, old)
	for i, p := range s.Ports {
		if p.NodePort != 0 && (p.NodePort < cluster.NodePortMin || p.NodePort > cluster.NodePortMax) {
			return invalid("spec.ports[%d].nodePort: %d is outside %d-%d", i, p.NodePort, cluster.NodePortMin, cluster.NodePortMax)
		}
	}
	others := a.txn.Services()
	if err := cluster.NodePortConflict(s, others); err != nil {
		return Result{Err: fmt.Errorf("service %s: %w: %w", s.Key(), ErrConflict, err)}
	}
	if err := cluster.AllocateNodePorts(s, others); err != nil {
		return Result{Err: fmt.Errorf("service %s: %w: %w", s.Key(), ErrConflict, err)}
	}
	// Virtual IPs too: every member derives the same one from the same
	// state, and two services cannot take one address.
	if err := cluster.AssignClusterIP(s, old, others, configWithDefaults(a.txn.Config()).ServiceCIDR); err != nil {
		return Result{Err: fmt.Errorf("service %s: %w: %w", s.Key(), ErrConflict, err)}
	}
	a.txn.PutService(s)
	return Result{Changed: 1}
}

func (c *DeleteService) apply(a *applier) Result {
	ns := orDefault(c.Namespace)
	if _, ok := a.txn.Service(ns, c.Name); !ok {
		return Result{Err: notFound("service", ns, c.Name)}
	}
	a.txn.DeleteService(ns, c.Name)
	return Result{Changed: 1}
}

// gone reports whether a pod may be replaced by a new one of the same name:
// it was asked to stop and holds nothing any more (never placed, or its
// node reported it stopped). A StatefulSet's db-0 relies on this: the new
// db-0 never overlaps the old one.
func gone(p *cluster.Pod) bool { return p.Terminating && !p.Holds() }

func (c *PutPods) apply(a *applier) Result {
	// Check everything first, so that a refused command changes nothing.
	for _, p := range c.Pods {
		if p == nil || p.Name == "" || p.UID == "" {
			return invalid("pod needs a name and a UID")
		}
		p.Namespace = orDefault(p.Namespace)
		if err := a.nsMissing(p.Namespace); err != nil {
			return Result{Err: err}
		}
		if old, ok := a.txn.Pod(p.Namespace, p.Name); ok && old.UID != p.UID && !gone(old) {
			return Result{Err: fmt.Errorf("pod %s exists with UID %s: %w", p.Key(), old.UID, ErrConflict)}
		}
		if why := desiredInvalid(p); why != "" {
			return invalid("pod %s: desiredResources: %s", p.Key(), why)
		}
	}
	pl := newPlacer(a.txn)
	var r Result
	for _, p := range c.Pods {
		old, ok := a.txn.Pod(p.Namespace, p.Name)
		if ok && old.UID == p.UID {
			// An update changes the desired side only: the node owns Status,
			// and a placement or termination is never undone by a put.
			p.Status = old.Status
			p.CreatedAt = old.CreatedAt
			p.Terminating = p.Terminating || old.Terminating
			p.NodeName, p.GPUs, p.VolumeFrom = old.NodeName, old.GPUs, old.VolumeFrom
			a.txn.PutPod(p)
			r.Changed++
			continue
		}
		if pl.createPod(p) {
			r.Changed++
		} else {
			r.Skipped++ // created, but left Pending: its nodeName did not fit
		}
	}
	return r
}

func (c *TerminatePods) apply(a *applier) Result {
	var r Result
	for _, ref := range c.Pods {
		p, ok := a.txn.Pod(orDefault(ref.Namespace), ref.Name)
		if !ok || p.UID != ref.UID || !a.terminate(p) {
			r.Skipped++
			continue
		}
		r.Changed++
	}
	return r
}

// phaseRank orders phases so that observed state only moves forward:
// a finished pod never runs again.
func phaseRank(p cluster.PodPhase) int {
	switch p {
	case cluster.PodRunning:
		return 1
	case cluster.PodSucceeded, cluster.PodFailed:
		return 2
	}
	return 0 // Pending, Unknown, ""
}

func (c *PodStatus) apply(a *applier) Result {
	var r Result
	for _, u := range c.Updates {
		p, ok := a.txn.Pod(orDefault(u.Ref.Namespace), u.Ref.Name)
		// A node speaks only for the pods placed on it: a late report from
		// the node a pod used to be on must not overwrite the new one's.
		if !ok || p.UID != u.Ref.UID || p.NodeName != c.Node || c.Node == "" {
			r.Skipped++
			continue
		}
		st := u.Status
		old := p.Status
		if phaseRank(st.Phase) < phaseRank(old.Phase) ||
			(phaseRank(old.Phase) == 2 && st.Phase != old.Phase) {
			st.Phase = old.Phase
		}
		st.Stopped = st.Stopped || old.Stopped // stopped is final
		fetched := a.volumesFetched(p, st)
		if !fetched && statusEqual(old, st) {
			r.Skipped++
			continue
		}
		p = p.Clone()
		p.Status = st
		if fetched {
			p.VolumeFrom = ""
		}
		p.ClearReadiness()
		a.txn.PutPod(p)
		r.Changed++
	}
	return r
}

func statusEqual(a, b cluster.PodStatus) bool {
	if a.Phase != b.Phase || a.Reason != b.Reason || a.Message != b.Message ||
		a.PodIP != b.PodIP || a.HostIP != b.HostIP || a.Ready != b.Ready ||
		!a.StartedAt.Equal(b.StartedAt) || a.Stopped != b.Stopped ||
		a.VolumesFetched != b.VolumesFetched ||
		a.Resizing != b.Resizing || a.ResizeMessage != b.ResizeMessage ||
		len(a.Containers) != len(b.Containers) {
		return false
	}
	for i := range a.Containers {
		x, y := a.Containers[i], b.Containers[i]
		if !x.StartedAt.Equal(y.StartedAt) || !x.FinishedAt.Equal(y.FinishedAt) {
			return false
		}
		x.StartedAt, x.FinishedAt, y.StartedAt, y.FinishedAt = y.StartedAt, y.FinishedAt, x.StartedAt, x.FinishedAt
		if x != y {
			return false
		}
	}
	return true
}

func (c *PutNode) apply(a *applier) Result {
	n := c.Node
	if n == nil || n.Name == "" {
		return invalid("node needs a name")
	}
	old, ok := a.txn.Node(n.Name)
	if ok {
		// Cordon and the subnet outlive re-registration: an agent restarting
		// must not uncordon itself or move its pods' network.
		n.Unschedulable = n.Unschedulable || old.Unschedulable
		// Taints are the users' (shoal taint), never the agent's.
		n.Taints = old.Taints
		if n.PodCIDR == "" {
			n.PodCIDR = old.PodCIDR
		}
		if n.Status == "" {
			n.Status = old.Status
		}
		if n.Raft == "" {
			n.Raft = old.Raft
		}
	} else if n.Status == "" {
		// A node registers itself, so it is alive when it does.
		n.Status = cluster.NodeReady
	}
	if n.PodCIDR == "" {
		cidr, err := a.allocCIDR()
		if err != nil {
			return Result{Err: fmt.Errorf("allocate pod CIDR for node %s: %w", n.Name, err)}
		}
		n.PodCIDR = cidr
	} else if !ok || n.PodCIDR != old.PodCIDR {
		if err := a.claimCIDR(n.Name, n.PodCIDR); err != nil {
			return Result{Err: err}
		}
	}
	a.txn.PutNode(n)
	return Result{Changed: 1}
}

// usedCIDRs returns the set of node subnets in use, computed once per entry.
func (a *applier) usedCIDRs() map[string]bool {
	if a.cidrs == nil {
		a.cidrs = map[string]bool{}
		for _, n := range a.txn.Nodes() {
			if n.PodCIDR != "" {
				a.cidrs[n.PodCIDR] = true
			}
		}
	}
	return a.cidrs
}

// claimCIDR records a subnet a node brought with it, refusing one that
// another node has.
func (a *applier) claimCIDR(node, cidr string) error {
	used := a.usedCIDRs()
	if used[cidr] {
		for _, n := range a.txn.Nodes() {
			if n.PodCIDR == cidr && n.Name != node {
				return fmt.Errorf("pod CIDR %s of node %s is node %s's: %w", cidr, node, n.Name, ErrConflict)
			}
		}
	}
	used[cidr] = true
	return nil
}

// allocCIDR picks the lowest free /24 of the cluster CIDR (from cidrNext),
// deterministically, so every member computes the same answer.
func (a *applier) allocCIDR() (string, error) {
	p, err := podPrefix(configWithDefaults(a.txn.Config()).ClusterCIDR)
	if err != nil {
		return "", err
	}
	used := a.usedCIDRs()
	base := p.Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8
	count := 1 << (24 - p.Bits())
	for i := a.cidrNext; i < count; i++ {
		v := start + uint32(i)<<8
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24).String()
		if !used[cidr] {
			used[cidr] = true
			a.cidrNext = i + 1
			return cidr, nil
		}
	}
	return "", fmt.Errorf("%s: %w", p, ErrCIDRExhausted)
}

func (c *SetNodeSchedulable) apply(a *applier) Result {
	n, ok := a.txn.Node(c.Name)
	if !ok {
		return Result{Err: notFound("node", "", c.Name)}
	}
	if n.Unschedulable == !c.Schedulable {
		return Result{Skipped: 1}
	}
	n = n.Clone()
	n.Unschedulable = !c.Schedulable
	a.txn.PutNode(n)
	return Result{Changed: 1}
}

func (c *SetNodeStatus) apply(a *applier) Result {
	switch c.Status {
	case cluster.NodeReady, cluster.NodeNotReady, cluster.NodeDown:
	default:
		return invalid("node status %q", c.Status)
	}
	n, ok := a.txn.Node(c.Name)
	if !ok {
		return Result{Err: notFound("node", "", c.Name)}
	}
	if n.Status == c.Status && n.DiskPressure == c.DiskPressure {
		return Result{Skipped: 1}
	}
	n = n.Clone()
	n.Status, n.DiskPressure = c.Status, c.DiskPressure
	a.txn.PutNode(n)
	return Result{Changed: 1}
}

func (c *DeleteNode) apply(a *applier) Result {
	n, ok := a.txn.Node(c.Name)
	if !ok {
		return Result{Err: notFound("node", "", c.Name)}
	}
	a.txn.DeleteNode(c.Name)
	if a.cidrs != nil {
		delete(a.cidrs, n.PodCIDR)
		a.cidrNext = 0
	}
	return Result{Changed: 1}
}
