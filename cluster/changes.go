package cluster

import (
	"bytes"
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
	// Services, Objects (ObjectKey), Claims (ClaimLocation.Key) and Tokens
	// (ID) are the keys put or deleted; Trust is set when the cluster's
	// credentials changed. The scheduler reads none of them: they are
	// here so that a member can send a state stream's follower what
	// changed (see Delta).
	Services map[string]bool `json:"services,omitempty"`
	Objects  map[string]bool `json:"objects,omitempty"`
	Claims   map[string]bool `json:"claims,omitempty"`
	Tokens   map[string]bool `json:"tokens,omitempty"`
	Trust    bool            `json:"trust,omitempty"`
	// Capacity is set when what pending pods are placed against may have
	// changed: a pod came, went, moved, grew or shrank, started or stopped
	// holding its node, or changed labels; a node, a claim, a claim's
	// object or a namespace changed. A pod's status alone (ready, restart
	// counts, messages) does not set it.
	Capacity bool `json:"capacity,omitempty"`
}

// Empty reports whether nothing the scheduler reconciles was touched. A
// change of Services, objects, claims, tokens or trust alone is empty to
// it (the claims and namespaces that matter to placement set Capacity).
func (c *Changes) Empty() bool {
	return c == nil || (!c.All && !c.Capacity && len(c.Pods) == 0 && len(c.Workloads) == 0 && len(c.Nodes) == 0 && len(c.Owners) == 0 && len(c.Gone) == 0)
}

// changeSet is what one Txn touched so far, as the change log stores it.
// Every member records one on every entry while only the leader reads
// them, once per pass, so recording is an append (duplicates and all, bar
// a repeat of the key just noted) and ChangesSince dedupes into sets.
//
// A Commit stores a copy (see committed): the Txn, should it go on, only
// appends past the copy's lengths, so the copy shares what it holds
// without a lock.
type changeSet struct {
	all, capacity, trust           bool
	pods                           podKeys
	workloads, nodes, owners, gone []string
	services, objects, claims      []string
	tokens                         []string
}

// size is how many keys c holds, for the change log's budget.
func (c *changeSet) size() int {
	return c.pods.n + len(c.workloads) + len(c.nodes) + len(c.owners) + len(c.gone) +
		len(c.services) + len(c.objects) + len(c.claims) + len(c.tokens)
}

// committed is the copy of c that a Commit stores.
func (c *changeSet) committed() changeSet {
	out := *c
	out.pods.chunks = slices.Clone(c.pods.chunks) // the Txn appends to its last chunk in place
	return out
}

// podKeys lists pod keys, as the pods tree holds them, in chunks: growing
// it never copies the keys it holds, which a plan of thousands of pods
// would otherwise pay for several times over on every member.
type podKeys struct {
	chunks [][][]byte
	n      int
}

const podKeysChunk = 1024

// note appends key unless it is the one noted last.
func (l *podKeys) note(key []byte) {
	last := len(l.chunks) - 1
	if last >= 0 {
		c := l.chunks[last]
		if bytes.Equal(c[len(c)-1], key) {
			return
		}
		if len(c) < cap(c) {
			l.chunks[last] = append(c, key)
			l.n++
			return
		}
	}
	// Chunks start small, for the many transactions that put a pod or
	// two, and double up to podKeysChunk.
	size := 4
	if last >= 0 {
		size = min(2*cap(l.chunks[last]), podKeysChunk)
	}
	l.chunks = append(l.chunks, append(make([][]byte, 0, size), key))
	l.n++
}

// note appends key unless it is the one noted last: a pod's old and new
// owner, and the pods of one plan, usually come in runs.
func note(list *[]string, key string) {
	if n := len(*list); n > 0 && (*list)[n-1] == key {
		return
	}
	*list = append(*list, key)
}

// addTo adds c's keys to the sets of out.
func (c *changeSet) addTo(out *Changes) {
	out.All = out.All || c.all
	out.Capacity = out.Capacity || c.capacity
	out.Trust = out.Trust || c.trust
	if c.pods.n > 0 && out.Pods == nil {
		out.Pods = make(map[string]bool, c.pods.n)
	}
	for _, chunk := range c.pods.chunks {
		for _, k := range chunk {
			out.Pods[string(k)] = true
		}
	}
	addKeys(&out.Workloads, c.workloads)
	addKeys(&out.Nodes, c.nodes)
	addKeys(&out.Owners, c.owners)
	addKeys(&out.Gone, c.gone)
	addKeys(&out.Services, c.services)
	addKeys(&out.Objects, c.objects)
	addKeys(&out.Claims, c.claims)
	addKeys(&out.Tokens, c.tokens)
}

func addKeys(set *map[string]bool, keys []string) {
	if len(keys) == 0 {
		return
	}
	if *set == nil {
		*set = make(map[string]bool, len(keys))
	}
	for _, k := range keys {
		(*set)[k] = true
	}
}

// podChanged records the pod at key put (old is what it replaced, nil
// when new) or deleted (p nil). Put and old share the key.
func (t *Txn) podChanged(key []byte, old, p *Pod) {
	c := &t.changes
	c.pods.note(key)
	if old != nil && old.Owner != nil {
		note(&c.owners, old.Owner.UID)
	}
	if p != nil && p.Owner != nil {
		note(&c.owners, p.Owner.UID)
	}
	if !c.capacity && (p == nil || podMatters(old, p)) {
		c.capacity = true
	}
}

// objectChanged records the object at key, of kind: claims and namespaces
// (labels for namespaceSelector) matter to placement; ConfigMaps, Secrets
// and the like do not matter to scheduling at all.
func (t *Txn) objectChanged(kind ObjectKind, key string) {
	note(&t.changes.objects, key)
	if kind == KindPersistentVolumeClaim || kind == KindNamespace {
		t.changes.capacity = true
	}
}

// changeLog is a State's history of changes: one entry per committed
// transaction, newest first. It is persistent (entries are never modified
// once shared), so every State carries its own view without a lock.
type changeLog struct {
	index, parent uint64 // the entry's State index and its parent's
	changes       changeSet
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
func appendLog(prev *changeLog, parent, index uint64, c changeSet) *changeLog {
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
	if since == s.index {
		return &Changes{}, true
	}
	if since > s.index {
		return nil, false
	}
	// Find the entry that starts at since before building any set.
	for e := s.log; e != nil && e.index > since && e.parent >= since; e = e.prev {
		if e.changes.all {
			return nil, false
		}
		if e.parent == since {
			return s.log.collect(e), true
		}
	}
	return nil, false
}

// collect merges the entries from e back to last, inclusive.
func (e *changeLog) collect(last *changeLog) *Changes {
	c := &Changes{}
	for ; ; e = e.prev {
		e.changes.addTo(c)
		if e == last {
			return c
		}
	}
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
