package cluster

import (
	"iter"

	iradix "github.com/hashicorp/go-immutable-radix"
)

// Config is cluster-wide settings, set when the cluster is created.
type Config struct {
	ClusterID string `json:"clusterID,omitempty"`
	// ClusterCIDR is split into one /24 per node (default 10.88.0.0/16).
	ClusterCIDR string `json:"clusterCIDR,omitempty"`
	// ServiceCIDR holds the Services' virtual IPs (default 10.43.0.0/16).
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// Domain is the DNS cluster domain (default cluster.local).
	Domain string `json:"domain,omitempty"`
	// PodSecurity is the pod security level applied objects must meet
	// (privileged, baseline or restricted; empty means baseline), and
	// AllowedHostPaths the host directories hostPath volumes may use under
	// baseline.
	PodSecurity      string   `json:"podSecurity,omitempty"`
	AllowedHostPaths []string `json:"allowedHostPaths,omitempty"`
}

// State is an immutable snapshot of the whole cluster at one Raft index.
// Reading it needs no lock; Txn derives a new State and leaves this one as
// it was. Objects returned by its getters are shared: never mutate them,
// Clone first.
type State struct {
	index     uint64
	config    Config
	nodes     *iradix.Tree // name → *Node
	workloads *iradix.Tree // Workload.Key() → *Workload
	pods      *iradix.Tree // Pod.Key() → *Pod
	services  *iradix.Tree // Service.Key() → *Service
	// Secondary indexes, values are the *Pod:
	podsByNode  *iradix.Tree // nodeName + "\x00" + pod key
	podsByOwner *iradix.Tree // owner UID + "\x00" + pod key
	// waiting: pod key, for the pods a scheduling pass retries whenever
	// room may have come (see Pod.Waiting).
	waiting *iradix.Tree
	// antiAffinity: pod key, for the pods with required pod
	// anti-affinity, which keep new pods away wherever they run.
	antiAffinity *iradix.Tree
	// claims: namespace + "/" + claim → *ClaimLocation (see claim.go).
	claims *iradix.Tree
	// trust and tokens: see trust.go.
	trust  Trust
	tokens *iradix.Tree // ID → *Token
	// objects: ObjectKey → *Object (ConfigMaps, Secrets, Namespaces, ...).
	objects *iradix.Tree
	// log is what the transactions up to this State touched (changes.go).
	log *changeLog
}

// Empty is the state of a new cluster.
func Empty() *State {
	t := iradix.New()
	return &State{nodes: t, workloads: t, pods: t, services: t, podsByNode: t, podsByOwner: t, waiting: t, antiAffinity: t, claims: t, tokens: t, objects: t}
}

// Index is the Raft index of the last change in s.
func (s *State) Index() uint64 { return s.index }

// Config returns the cluster's settings.
func (s *State) Config() Config { return s.config }

// Node returns the node called name.
func (s *State) Node(name string) (*Node, bool) { return get[*Node](s.nodes, name) }

// Nodes returns every node, by name.
func (s *State) Nodes() []*Node { return all[*Node](s.nodes, "") }

// NodeCount returns how many nodes there are.
func (s *State) NodeCount() int { return s.nodes.Len() }

// Workload returns a Deployment or StatefulSet.
func (s *State) Workload(kind WorkloadKind, namespace, name string) (*Workload, bool) {
	return get[*Workload](s.workloads, WorkloadKey(kind, namespace, name))
}

// Workloads returns every workload, by kind, namespace and name.
func (s *State) Workloads() []*Workload { return all[*Workload](s.workloads, "") }

// WorkloadsOfKind returns the workloads of one kind.
func (s *State) WorkloadsOfKind(kind WorkloadKind) []*Workload {
	return all[*Workload](s.workloads, string(kind)+"/")
}

// Pod returns one pod.
func (s *State) Pod(namespace, name string) (*Pod, bool) {
	return get[*Pod](s.pods, Key(namespace, name))
}

// PodByKey returns a pod by its Key.
func (s *State) PodByKey(key string) (*Pod, bool) { return get[*Pod](s.pods, key) }

// Pods iterates over every pod, by namespace and name.
func (s *State) Pods() iter.Seq[*Pod] { return each[*Pod](s.pods, "") }

// PodCount returns how many pods there are.
func (s *State) PodCount() int { return s.pods.Len() }

// PodsOnNode returns the pods placed on a node, by namespace and name.
func (s *State) PodsOnNode(node string) []*Pod {
	return all[*Pod](s.podsByNode, node+"\x00")
}

// PodsOwnedBy returns the pods a workload (by UID) created.
func (s *State) PodsOwnedBy(uid string) []*Pod {
	return all[*Pod](s.podsByOwner, uid+"\x00")
}

// WaitingPods returns the pods that wait for room (Pod.Waiting), by
// namespace and name, without walking the others.
func (s *State) WaitingPods() []*Pod { return all[*Pod](s.waiting, "") }

// PodsWithRequiredAntiAffinity returns the pods with required pod
// anti-affinity, by namespace and name.
func (s *State) PodsWithRequiredAntiAffinity() []*Pod { return all[*Pod](s.antiAffinity, "") }

// Service returns one service.
func (s *State) Service(namespace, name string) (*Service, bool) {
	return get[*Service](s.services, Key(namespace, name))
}

// Services returns every service, by namespace and name.
func (s *State) Services() []*Service { return all[*Service](s.services, "") }

// Txn starts a change that will carry Raft index index.
func (s *State) Txn(index uint64) *Txn {
	return &Txn{
		index:        index,
		config:       s.config,
		nodes:        s.nodes.Txn(),
		workloads:    s.workloads.Txn(),
		pods:         s.pods.Txn(),
		services:     s.services.Txn(),
		podsByNode:   s.podsByNode.Txn(),
		podsByOwner:  s.podsByOwner.Txn(),
		waiting:      s.waiting.Txn(),
		antiAffinity: s.antiAffinity.Txn(),
		claims:       s.claims.Txn(),
		trust:        s.trust,
		tokens:       s.tokens.Txn(),
		objects:      s.objects.Txn(),
		parent:       s.index,
		log:          s.log,
	}
}

// Txn is a change to a State. It is not safe for concurrent use. Objects
// put into it are owned by it from then on: don't mutate them afterwards.
type Txn struct {
	index        uint64
	config       Config
	nodes        *iradix.Txn
	workloads    *iradix.Txn
	pods         *iradix.Txn
	services     *iradix.Txn
	podsByNode   *iradix.Txn
	podsByOwner  *iradix.Txn
	waiting      *iradix.Txn
	antiAffinity *iradix.Txn
	claims       *iradix.Txn
	trust        Trust
	tokens       *iradix.Txn
	objects      *iradix.Txn
	// parent and log are the State this change started from; changes is
	// what it touched so far.
	parent  uint64
	log     *changeLog
	changes changeSet
	// scratch builds keys that are only looked up or deleted.
	scratch []byte
}

// Index is the Raft index the change will carry.
func (t *Txn) Index() uint64 { return t.index }

// SetConfig replaces the cluster settings.
func (t *Txn) SetConfig(c Config) {
	t.config = c
	t.changes.all = true
}

// Config returns the settings as of this change.
func (t *Txn) Config() Config { return t.config }

// Node returns a node as of this change.
func (t *Txn) Node(name string) (*Node, bool) { return getTxn[*Node](t.nodes, name) }

// PutNode stores n, stamping its indexes.
func (t *Txn) PutNode(n *Node) {
	if old, ok := t.Node(n.Name); ok {
		n.CreateIndex = old.CreateIndex
	} else {
		n.CreateIndex = t.index
	}
	n.ModifyIndex = t.index
	t.nodes.Insert([]byte(n.Name), n)
	t.nodeChanged(n.Name)
}

// DeleteNode removes a node (its pods stay, to be rescheduled).
func (t *Txn) DeleteNode(name string) {
	t.nodes.Delete([]byte(name))
	t.nodeChanged(name)
}

func (t *Txn) nodeChanged(name string) {
	note(&t.changes.nodes, name)
	t.changes.capacity = true
}

// Workload returns a workload as of this change.
func (t *Txn) Workload(kind WorkloadKind, namespace, name string) (*Workload, bool) {
	return getTxn[*Workload](t.workloads, WorkloadKey(kind, namespace, name))
}

// PutWorkload stores w, stamping its indexes.
func (t *Txn) PutWorkload(w *Workload) {
	if old, ok := t.Workload(w.Kind, w.Namespace, w.Name); ok {
		w.CreateIndex = old.CreateIndex
	} else {
		w.CreateIndex = t.index
	}
	w.ModifyIndex = t.index
	t.workloads.Insert([]byte(w.Key()), w)
	t.workloadChanged(w)
}

// DeleteWorkload removes a workload; its pods are left for the caller.
func (t *Txn) DeleteWorkload(kind WorkloadKind, namespace, name string) {
	if old, ok := t.Workload(kind, namespace, name); ok {
		note(&t.changes.gone, old.UID)
		t.workloadChanged(old)
	}
	t.workloads.Delete([]byte(WorkloadKey(kind, namespace, name)))
}

// workloadChanged records w and the CronJob that owns it, if any (a Job's
// status decides its CronJob's next run and history).
func (t *Txn) workloadChanged(w *Workload) {
	note(&t.changes.workloads, w.Key())
	if o := w.Owner; o != nil {
		note(&t.changes.workloads, WorkloadKey(o.Kind, w.Namespace, o.Name))
	}
}

// Pod returns a pod as of this change.
func (t *Txn) Pod(namespace, name string) (*Pod, bool) {
	return getTxn[*Pod](t.pods, Key(namespace, name))
}

// PodsOnNode returns the pods on a node as of this change.
func (t *Txn) PodsOnNode(node string) []*Pod {
	return allTxn[*Pod](t.podsByNode, node+"\x00")
}

// PodsOwnedBy returns a workload's pods as of this change.
func (t *Txn) PodsOwnedBy(uid string) []*Pod {
	return allTxn[*Pod](t.podsByOwner, uid+"\x00")
}

// PutPod stores p, stamping its indexes and keeping the node and owner
// indexes in step.
func (t *Txn) PutPod(p *Pod) {
	key, byNode, byOwner := podIndexKeys(p)
	v, ok := t.pods.Get(key)
	var old *Pod
	if ok {
		old = v.(*Pod)
		p.CreateIndex = old.CreateIndex
		t.unindexPod(old, key)
	} else {
		p.CreateIndex = t.index
	}
	t.podChanged(key, old, p)
	p.ModifyIndex = t.index
	t.pods.Insert(key, p)
	if byNode != nil {
		t.podsByNode.Insert(byNode, p)
	}
	if byOwner != nil {
		t.podsByOwner.Insert(byOwner, p)
	}
	if p.Waiting() {
		t.waiting.Insert(key, p)
	}
	if RequiredAntiAffinity(p) {
		t.antiAffinity.Insert(key, p)
	}
}

// podIndexKeys builds p's key and its keys in the node and owner indexes
// (nil where it has none) in one allocation. The trees and the change log
// keep these slices and never write to them; a plan puts thousands of
// pods per entry on every member, so this is a hot path.
func podIndexKeys(p *Pod) (key, byNode, byOwner []byte) {
	n := len(p.Namespace) + 1 + len(p.Name)
	size := n
	if p.NodeName != "" {
		size += len(p.NodeName) + 1 + n
	}
	if p.Owner != nil {
		size += len(p.Owner.UID) + 1 + n
	}
	buf := make([]byte, 0, size)
	buf = append(append(append(buf, p.Namespace...), '/'), p.Name...)
	key = buf[:n:n]
	join := func(prefix string) []byte {
		start := len(buf)
		buf = append(append(append(buf, prefix...), 0), key...)
		return buf[start:len(buf):len(buf)]
	}
	if p.NodeName != "" {
		byNode = join(p.NodeName)
	}
	if p.Owner != nil {
		byOwner = join(p.Owner.UID)
	}
	return key, byNode, byOwner
}

// DeletePod removes a pod.
func (t *Txn) DeletePod(namespace, name string) {
	t.deletePod([]byte(Key(namespace, name)))
}

// deletePod removes the pod at key, if there is one.
func (t *Txn) deletePod(key []byte) {
	v, ok := t.pods.Get(key)
	if !ok {
		return
	}
	old := v.(*Pod)
	t.unindexPod(old, key)
	t.pods.Delete(key)
	t.podChanged(key, old, nil)
}

// unindexPod drops p, stored at key, from the secondary indexes. Deletes
// keep no key, so the index keys are built in a scratch buffer.
func (t *Txn) unindexPod(p *Pod, key []byte) {
	if p.NodeName != "" {
		t.scratch = append(append(append(t.scratch[:0], p.NodeName...), 0), key...)
		t.podsByNode.Delete(t.scratch)
	}
	if p.Owner != nil {
		t.scratch = append(append(append(t.scratch[:0], p.Owner.UID...), 0), key...)
		t.podsByOwner.Delete(t.scratch)
	}
	if p.Waiting() {
		t.waiting.Delete(key)
	}
	if RequiredAntiAffinity(p) {
		t.antiAffinity.Delete(key)
	}
}

// Service returns a service as of this change.
func (t *Txn) Service(namespace, name string) (*Service, bool) {
	return getTxn[*Service](t.services, Key(namespace, name))
}

// Services returns every service of the transaction, by namespace and
// name.
func (t *Txn) Services() []*Service { return allTxn[*Service](t.services, "") }

// PutService stores s, stamping its indexes.
func (t *Txn) PutService(s *Service) {
	if old, ok := t.Service(s.Namespace, s.Name); ok {
		s.CreateIndex = old.CreateIndex
	} else {
		s.CreateIndex = t.index
	}
	s.ModifyIndex = t.index
	key := s.Key()
	t.services.Insert([]byte(key), s)
	note(&t.changes.services, key)
}

// DeleteService removes a service.
func (t *Txn) DeleteService(namespace, name string) {
	key := Key(namespace, name)
	t.services.Delete([]byte(key))
	note(&t.changes.services, key)
}

// Commit returns the new State.
func (t *Txn) Commit() *State {
	return &State{
		index:        t.index,
		config:       t.config,
		nodes:        t.nodes.Commit(),
		workloads:    t.workloads.Commit(),
		pods:         t.pods.Commit(),
		services:     t.services.Commit(),
		podsByNode:   t.podsByNode.Commit(),
		podsByOwner:  t.podsByOwner.Commit(),
		waiting:      t.waiting.Commit(),
		antiAffinity: t.antiAffinity.Commit(),
		claims:       t.claims.Commit(),
		trust:        t.trust,
		tokens:       t.tokens.Commit(),
		objects:      t.objects.Commit(),
		log:          appendLog(t.log, t.parent, t.index, t.changes.committed()),
	}
}

func get[T any](tree *iradix.Tree, key string) (T, bool) {
	v, ok := tree.Get([]byte(key))
	if !ok {
		var zero T
		return zero, false
	}
	return v.(T), true
}

func getTxn[T any](txn *iradix.Txn, key string) (T, bool) {
	v, ok := txn.Get([]byte(key))
	if !ok {
		var zero T
		return zero, false
	}
	return v.(T), true
}

func each[T any](tree *iradix.Tree, prefix string) iter.Seq[T] {
	return func(yield func(T) bool) {
		it := tree.Root().Iterator()
		it.SeekPrefix([]byte(prefix))
		for _, v, ok := it.Next(); ok; _, v, ok = it.Next() {
			if !yield(v.(T)) {
				return
			}
		}
	}
}

func all[T any](tree *iradix.Tree, prefix string) []T {
	var out []T
	for v := range each[T](tree, prefix) {
		out = append(out, v)
	}
	return out
}

func allTxn[T any](txn *iradix.Txn, prefix string) []T {
	var out []T
	it := txn.Root().Iterator()
	it.SeekPrefix([]byte(prefix))
	for _, v, ok := it.Next(); ok; _, v, ok = it.Next() {
		out = append(out, v.(T))
	}
	return out
}
