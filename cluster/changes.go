package cluster

import (
	"maps"
	"slices"
)

// Changes names what one or more committed transactions touched, so that
// the leader's scheduler reconciles only that (see scheduler.Scope) instead
// of every pod. It is a feed for scheduling, not an audit: it errs on the
// side of naming too much, never too little.
type Changes struct {
	// All is set when the change cannot be described key by key (a
	// restored snapshot, new cluster settings): only a full pass will do.
	All bool `json:"all,omitempty"`
	// Pods, Workloads and Nodes are the keys put or deleted (Pod.Key,
	// Workload.Key, Node.Name).
	Pods      map[string]bool `json:"pods,omitempty"`
	Workloads map[string]bool `json:"workloads,omitempty"`
	Nodes     map[string]bool `json:"nodes,omitempty"`
	// Owners are the owner UIDs of the pods put or deleted: their
	// workloads have something to reconcile.
	Owners map[string]bool `json:"owners,omitempty"`
	// Gone are the UIDs of the workloads deleted, whose pods are orphans.
	Gone map[string]bool `json:"gone,omitempty"`
	// Capacity is set when what pending pods are placed against may have
	// changed: a pod came, went, moved, grew or shrank, started or stopped
	// holding its node, or changed labels; a node, a claim, a claim's
	// object or a namespace changed. A pod's status alone (ready, restart
	// counts, messages) does not set it.
	Capacity bool `json:"capacity,omitempty"`
}

// Empty reports whether nothing was touched.
func (c *Changes) Empty() bool {
	return c == nil || (!c.All && !c.Capacity && len(c.Pods) == 0 && len(c.Workloads) == 0 && len(c.Nodes) == 0 && len(c.Owners) == 0 && len(c.Gone) == 0)
}

// size is how many keys c holds, for the change log's budget.
func (c *Changes) size() int {
	return len(c.Pods) + len(c.Workloads) + len(c.Nodes) + len(c.Owners) + len(c.Gone)
}

// merge adds o's keys to c.
func (c *Changes) merge(o *Changes) {
	c.All = c.All || o.All
	c.Capacity = c.Capacity || o.Capacity
	c.Pods = mergeSet(c.Pods, o.Pods)
	c.Workloads = mergeSet(c.Workloads, o.Workloads)
	c.Nodes = mergeSet(c.Nodes, o.Nodes)
	c.Owners = mergeSet(c.Owners, o.Owners)
	c.Gone = mergeSet(c.Gone, o.Gone)
}

func mergeSet(dst, src map[string]bool) map[string]bool {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]bool, len(src))
	}
	maps.Copy(dst, src)
	return dst
}

// podChanged records the pod at key put (old is what it replaced, nil
// when new) or deleted (p nil). Put and old share the key and the owner.
func (t *Txn) podChanged(key string, old, p *Pod) {
	c := t.ch()
	mark(&c.Pods, key)
	for _, x := range []*Pod{old, p} {
		if x != nil && x.Owner != nil {
			mark(&c.Owners, x.Owner.UID)
		}
	}
	if !c.Capacity && (p == nil || podMatters(old, p)) {
		c.Capacity = true
	}
}

func mark(set *map[string]bool, key string) {
	if *set == nil {
		*set = map[string]bool{}
	}
	(*set)[key] = true
}

// ch is the Txn's change set, copied first if a Commit already shared it
// (a Txn may go on after a Commit).
func (t *Txn) ch() *Changes {
	if t.shared {
		c := &Changes{}
		c.merge(t.changes)
		t.changes, t.shared = c, false
	}
	return t.changes
}

// objectChanged records an object of kind: claims and namespaces (labels
// for namespaceSelector) matter to placement; ConfigMaps, Secrets and the
// like do not matter to scheduling at all.
func (t *Txn) objectChanged(kind ObjectKind) {
	if kind == KindPersistentVolumeClaim || kind == KindNamespace {
		t.ch().Capacity = true
	}
}

// changeLog is a State's history of changes: one entry per committed
// transaction, newest first. It is persistent (entries are never modified
// once shared), so every State carries its own view without a lock.
type changeLog struct {
	index, parent uint64 // the entry's State index and its parent's
	changes       *Changes
	prev          *changeLog
	// depth and keys count the entries and keys from here back, so the
	// log can be cut once it grows past its budget.
	depth, keys int
}

// Budget of the change log: past either, the oldest half is dropped. A
// reader that lags that far (or a new leader) runs a full pass instead.
const (
	changeLogEntries = 4096
	changeLogKeys    = 1 << 16
)

// appendLog records one committed transaction on top of prev.
func appendLog(prev *changeLog, parent, index uint64, c *Changes) *changeLog {
	e := &changeLog{index: index, parent: parent, changes: c, prev: prev, depth: 1, keys: c.size()}
	if prev != nil {
		e.depth, e.keys = prev.depth+1, prev.keys+c.size()
	}
	if e.depth > changeLogEntries || e.keys > changeLogKeys {
		return e.cut()
	}
	return e
}

// cut copies the newer half of the log (by entries and keys) into fresh
// entries, leaving the shared older ones to whichever States still hold
// them. Copying half each time keeps appends amortised O(1).
func (e *changeLog) cut() *changeLog {
	var keep []*changeLog
	n, keys := 0, 0
	for x := e; x != nil && n < changeLogEntries/2 && (n == 0 || keys+x.changes.size() <= changeLogKeys/2); x = x.prev {
		keep = append(keep, x)
		n++
		keys += x.changes.size()
	}
	var out *changeLog
	for _, x := range slices.Backward(keep) {
		out = &changeLog{index: x.index, parent: x.parent, changes: x.changes, prev: out, depth: 1, keys: x.changes.size()}
		if out.prev != nil {
			out.depth, out.keys = out.prev.depth+1, out.prev.keys+x.changes.size()
		}
	}
	return out
}

// ChangesSince returns everything that changed after the State at index
// since, up to s. ok is false when s cannot tell (the log was cut, the
// State was restored from a snapshot, or since is not an ancestor's index):
// the caller must then treat everything as changed.
func (s *State) ChangesSince(since uint64) (c *Changes, ok bool) {
	c = &Changes{}
	if since == s.index {
		return c, true
	}
	if since > s.index {
		return nil, false
	}
	for e := s.log; e != nil && e.index > since; e = e.prev {
		c.merge(e.changes)
		if e.parent == since {
			return c, !c.All
		}
		if e.parent < since {
			return nil, false
		}
	}
	return nil, false
}

// podMatters reports whether a pod's change from old to p may change where
// other pods fit: see Changes.Capacity.
func podMatters(old, p *Pod) bool {
	if old == nil {
		return true
	}
	return old.NodeName != p.NodeName || old.Holds() != p.Holds() || old.Terminating != p.Terminating ||
		old.Spec.Requests() != p.Spec.Requests() || !maps.Equal(old.Labels, p.Labels) ||
		!slices.Equal(old.GPUs, p.GPUs) || old.VolumeFrom != p.VolumeFrom || !slices.Equal(hostPorts(old), hostPorts(p))
}

// hostPorts lists a pod's published node ports, which placement counts.
func hostPorts(p *Pod) []ContainerPort {
	var out []ContainerPort
	for _, cs := range [][]Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			for _, port := range c.Ports {
				if port.HostPort != 0 {
					out = append(out, port)
				}
			}
		}
	}
	return out
}

// Waiting reports whether p waits for room: it is not placed yet (and not
// on its way out), or its in-place resize is pending.
func (p *Pod) Waiting() bool {
	return (p.NodeName == "" && !p.Terminating) || p.ResizePending != nil
}

// RequiredAntiAffinity reports whether p has required pod anti-affinity.
func RequiredAntiAffinity(p *Pod) bool {
	a := p.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.Required) > 0
}
