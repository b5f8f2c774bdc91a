package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// A node's view of the state is the whole state except for the pods of
// other nodes (and unplaced ones), which it holds as summaries: what DNS
// and Service routes read of a pod it does not run; of the ConfigMaps and
// Secrets, it holds only those its own pods use (Kubernetes' node
// authorizer lets a kubelet read no others). A node outside Raft needs
// no more. Summaries are smaller than whole pods, and a change to
// what no summary shows (a message, a restart count, a probe's result
// that leaves readiness as it was) does not reach other nodes at all. A
// member builds a follower's view with View and keeps it current with
// DeltaSince; the follower applies each Delta with ApplyDelta.

// Summary returns p as a view holds it on a node that does not run it:
// its identity, labels, owner, node and IP, its readiness, the DNS names
// its spec asks for (hostname, subdomain) and its containers' names and
// ports (named Service ports and SRV records). ModifyIndex is left out,
// so that a change to a field the summary drops changes no summary.
func (p *Pod) Summary() *Pod {
	return &Pod{
		Namespace: p.Namespace, Name: p.Name, UID: p.UID, Labels: p.Labels, Owner: p.Owner,
		Ordinal: p.Ordinal, TemplateHash: p.TemplateHash, NodeName: p.NodeName, DaemonNode: p.DaemonNode,
		Terminating: p.Terminating, CreateIndex: p.CreateIndex, CreatedAt: p.CreatedAt, Summarized: true,
		Spec: PodSpec{
			Hostname: p.Spec.Hostname, Subdomain: p.Spec.Subdomain, HostNetwork: p.Spec.HostNetwork,
			InitContainers: containerPorts(p.Spec.InitContainers), Containers: containerPorts(p.Spec.Containers),
		},
		Status: PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, HostIP: p.Status.HostIP, Ready: p.Status.Ready, Stopped: p.Status.Stopped},
	}
}

// containerPorts keeps the names, ports and restart policy (a sidecar's)
// of containers.
func containerPorts(cs []Container) []Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// ViewPod is p as node's view holds it: p itself on its own node, its
// Summary elsewhere.
func ViewPod(p *Pod, node string) *Pod {
	if runsOn(p, node) {
		return p
	}
	return p.Summary()
}

// runsOn reports whether node's view holds p in full.
func runsOn(p *Pod, node string) bool { return node != "" && p.NodeName == node }

// sameButStatus reports whether two summaries hold the same but for
// their status.
func sameButStatus(a, b *Pod) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.UID == b.UID && maps.Equal(a.Labels, b.Labels) &&
		ownerEqual(a.Owner, b.Owner) && a.Ordinal == b.Ordinal && a.TemplateHash == b.TemplateHash &&
		a.NodeName == b.NodeName && a.DaemonNode == b.DaemonNode && a.Terminating == b.Terminating &&
		a.CreateIndex == b.CreateIndex && a.CreatedAt.Equal(b.CreatedAt) &&
		a.Spec.Hostname == b.Spec.Hostname && a.Spec.Subdomain == b.Spec.Subdomain && a.Spec.HostNetwork == b.Spec.HostNetwork &&
		containersEqual(a.Spec.InitContainers, b.Spec.InitContainers) && containersEqual(a.Spec.Containers, b.Spec.Containers)
}

// statusEqual compares what Summary keeps of a status.
func statusEqual(a, b PodStatus) bool {
	return a.Phase == b.Phase && a.PodIP == b.PodIP && a.HostIP == b.HostIP && a.Ready == b.Ready && a.Stopped == b.Stopped
}

func ownerEqual(a, b *OwnerRef) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// containersEqual compares what Summary keeps of containers.
func containersEqual(a, b []Container) bool {
	return slices.EqualFunc(a, b, func(x, y Container) bool {
		return x.Name == y.Name && x.RestartPolicy == y.RestartPolicy && slices.Equal(x.Ports, y.Ports)
	})
}

// usedByPods reports whether a node's view holds objects of kind only
// where the node's pods use them: ConfigMaps and Secrets, as Kubernetes'
// node authorizer lets a kubelet read only those of its pods. Every
// other kind (Namespaces, budgets, autoscalers...) is held whole.
func usedByPods(kind ObjectKind) bool { return kind == KindConfigMap || kind == KindSecret }

// objectsUsedOn returns the keys (ObjectKey) of the ConfigMaps and
// Secrets the pods on node use (PodSpec.UsedObjects), whether they exist
// or not: one created after the pod that waits for it is sent to the
// node then.
func (s *State) objectsUsedOn(node string) map[string]bool {
	if node == "" {
		return objectsUsedBy(nil)
	}
	return objectsUsedBy(s.PodsOnNode(node))
}

func objectsUsedBy(pods []*Pod) map[string]bool {
	used := map[string]bool{}
	for _, p := range pods {
		for _, r := range p.Spec.UsedObjects() {
			used[ObjectKey(r.Kind, p.Namespace, r.Name)] = true
		}
	}
	return used
}

// ViewHolds returns whether node's view of s holds an object: every one
// but the ConfigMaps and Secrets no pod on node uses.
func (s *State) ViewHolds(node string) func(*Object) bool {
	used := s.objectsUsedOn(node)
	return func(o *Object) bool { return !usedByPods(o.Kind) || used[o.Key()] }
}

// nodesUsing adds to nodes those whose pods use o, a ConfigMap or Secret.
func (s *State) nodesUsing(o *Object, nodes map[string]bool) {
	for p := range each[*Pod](s.pods, o.Namespace+"/") {
		if p.NodeName != "" && !nodes[p.NodeName] && p.Spec.uses(o.Kind, o.Name) {
			nodes[p.NodeName] = true
		}
	}
}

// View returns s as node's view: every pod not on node summarized, the
// ConfigMaps and Secrets its pods do not use left out.
func (s *State) View(node string) *State {
	t := s.Txn(s.index)
	for p := range s.Pods() {
		if v := ViewPod(p, node); v != p {
			t.copyPod(v)
		}
	}
	t.dropUnused(s, node)
	v := t.Commit()
	v.log = nil // a view starts its own history: nothing before it can be described against it
	return v
}

// Delta is what changed in a node's view from index Since to Index: the
// objects put, as the view holds them, and the keys deleted.
type Delta struct {
	Since uint64 `json:"since"`
	Index uint64 `json:"index"`
	// Trust is set when the credentials changed.
	Trust     *Trust           `json:"trust,omitempty"`
	Nodes     []*Node          `json:"nodes,omitempty"`
	Workloads []*Workload      `json:"workloads,omitempty"`
	Pods      []*Pod           `json:"pods,omitempty"`
	Services  []*Service       `json:"services,omitempty"`
	Claims    []*ClaimLocation `json:"claims,omitempty"`
	Tokens    []*Token         `json:"tokens,omitempty"`
	Objects   []*Object        `json:"objects,omitempty"`
	// Statuses are summarized pods whose status alone changed: most of a
	// cluster's changes, sent as the few fields a summary keeps of it.
	Statuses []PodStatusChange `json:"statuses,omitempty"`
	Deleted  DeltaKeys         `json:"deleted"`
}

// PodStatusChange is a summarized pod's new status (Summary's fields of
// it), by the pod's key.
type PodStatusChange struct {
	Key    string    `json:"key"`
	Status PodStatus `json:"status"`
}

// DeltaKeys are the keys a Delta deletes, by kind.
type DeltaKeys struct {
	Nodes     []string `json:"nodes,omitempty"`
	Workloads []string `json:"workloads,omitempty"`
	Pods      []string `json:"pods,omitempty"`
	Services  []string `json:"services,omitempty"`
	Claims    []string `json:"claims,omitempty"`
	Tokens    []string `json:"tokens,omitempty"`
	Objects   []string `json:"objects,omitempty"`
}

// Size is how many objects and keys d carries.
func (d *Delta) Size() int {
	k := d.Deleted
	return len(d.Nodes) + len(d.Workloads) + len(d.Pods) + len(d.Services) + len(d.Claims) + len(d.Tokens) + len(d.Objects) + len(d.Statuses) +
		len(k.Nodes) + len(k.Workloads) + len(k.Pods) + len(k.Services) + len(k.Claims) + len(k.Tokens) + len(k.Objects)
}

// DeltaSince returns how node's view changed from the State at index
// since to s; ok is false when s cannot tell (see ChangesSince), or the
// change is not one of keys (new settings, a restored snapshot): the
// follower then needs View(node) whole. prev, if it is the State at
// since, lets DeltaSince leave out the pods of other nodes whose summary
// did not change (a restart count, a message), and send only the status
// of those whose summary changed in its status alone. Without it every
// changed pod is sent whole, and a deleted key the follower may never
// have held is deleted anyway.
func (s *State) DeltaSince(since uint64, prev *State, node string) (d *Delta, ok bool) {
	return s.deltaSince(since, prev, node, nil)
}

// SharedDelta is DeltaSince for every node not in nodes, which it
// returns: the nodes any changed pod was on, before or after; prev, the
// State at since, is needed to know where they were. A member
// serving many views makes the delta once and sends it to all of them
// but the followers of those nodes, whose own pods changed.
func (s *State) SharedDelta(since uint64, prev *State) (d *Delta, nodes map[string]bool, ok bool) {
	if prev == nil || prev.index != since {
		return nil, nil, false // where the changed pods were is not known
	}
	nodes = map[string]bool{}
	d, ok = s.deltaSince(since, prev, "", nodes)
	return d, nodes, ok
}

// deltaSince is DeltaSince; touched, if set, gets the nodes of the
// changed pods.
func (s *State) deltaSince(since uint64, prev *State, node string, touched map[string]bool) (d *Delta, ok bool) {
	c, ok := s.ChangesSince(since)
	if !ok || c.All {
		return nil, false
	}
	if prev != nil && prev.index != since {
		prev = nil
	}
	d = &Delta{Since: since, Index: s.index}
	if c.Trust {
		tr := s.trust
		d.Trust = &tr
	}
	deltaKind(c.Nodes, s.nodes, &d.Nodes, &d.Deleted.Nodes)
	deltaKind(c.Workloads, s.workloads, &d.Workloads, &d.Deleted.Workloads)
	deltaKind(c.Services, s.services, &d.Services, &d.Deleted.Services)
	deltaKind(c.Claims, s.claims, &d.Claims, &d.Deleted.Claims)
	deltaKind(c.Tokens, s.tokens, &d.Tokens, &d.Deleted.Tokens)
	deltaKind(c.Objects, s.objects, &d.Objects, &d.Deleted.Objects)
	for _, key := range slices.Sorted(maps.Keys(c.Pods)) {
		p, ok := s.PodByKey(key)
		if touched != nil {
			if ok {
				touched[p.NodeName] = true
			}
			if old, had := prevPod(prev, key); had {
				touched[old.NodeName] = true
			}
		}
		if !ok {
			if _, had := prevPod(prev, key); prev == nil || had {
				d.Deleted.Pods = append(d.Deleted.Pods, key)
			}
			continue
		}
		v := ViewPod(p, node)
		if old, had := prevPod(prev, key); had {
			if old == p {
				continue
			}
			if v != p && !runsOn(old, node) {
				if was := old.Summary(); sameButStatus(was, v) {
					if !statusEqual(was.Status, v.Status) {
						d.Statuses = append(d.Statuses, PodStatusChange{Key: key, Status: v.Status})
					}
					continue
				}
			}
		}
		d.Pods = append(d.Pods, v)
	}
	d.Objects = s.viewObjects(d.Objects, c, prev, d.Pods, node, touched)
	return d, true
}

// viewObjects returns of objs, the objects changed from prev to s, those
// node's view holds (no ConfigMap or Secret no pod on node uses), and
// adds those its pods start to use: a pod placed on node, or its spec
// changed (such a pod is among pods, the delta's). One its pods stop
// using is not deleted: the follower drops it (ApplyDelta). Without
// prev, every one a pod on node sent whole uses is sent, as the follower
// may not hold it. touched, if set, gets the nodes whose pods use a
// changed ConfigMap or Secret: their views change, not the others'.
func (s *State) viewObjects(objs []*Object, c *Changes, prev *State, pods []*Pod, node string, touched map[string]bool) []*Object {
	var used map[string]bool
	kept := objs[:0]
	for _, o := range objs {
		if !usedByPods(o.Kind) {
			kept = append(kept, o)
			continue
		}
		if touched != nil {
			s.nodesUsing(o, touched)
		}
		if used == nil {
			used = s.objectsUsedOn(node)
		}
		if used[o.Key()] {
			kept = append(kept, o)
		}
	}
	if node == "" {
		return kept
	}
	var held map[string]bool // what node's view held at since
	more := map[string]*Object{}
	for _, p := range pods {
		if !runsOn(p, node) {
			continue
		}
		for _, r := range p.Spec.UsedObjects() {
			k := ObjectKey(r.Kind, p.Namespace, r.Name)
			if c.Objects[k] || more[k] != nil {
				continue // sent above if node's view holds it
			}
			if prev != nil {
				if held == nil {
					held = prev.objectsUsedOn(node)
				}
				if held[k] {
					continue
				}
			}
			if v, ok := s.objects.Get([]byte(k)); ok {
				more[k] = v.(*Object)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(more)) {
		kept = append(kept, more[k])
	}
	return kept
}

func prevPod(prev *State, key string) (*Pod, bool) {
	if prev == nil {
		return nil, false
	}
	return prev.PodByKey(key)
}

// deltaKind adds the objects of one kind at keys to put, or their keys to
// gone where s no longer holds them.
func deltaKind[T any](keys map[string]bool, tree interface {
	Get([]byte) (any, bool)
}, put *[]T, gone *[]string) {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if v, ok := tree.Get([]byte(k)); ok {
			*put = append(*put, v.(T))
		} else {
			*gone = append(*gone, k)
		}
	}
}

// ApplyDelta returns s, node's view, with d applied, and without the
// ConfigMaps and Secrets node's pods no longer use (the delta does not
// delete them). s
// must be the view d was made against (at index d.Since); d's objects are
// owned by the result from then on.
func (s *State) ApplyDelta(d *Delta, node string) (*State, error) {
	if d.Since != s.index {
		return nil, fmt.Errorf("apply the view's change %d..%d: the view is at %d", d.Since, d.Index, s.index)
	}
	if d.Index < d.Since {
		return nil, fmt.Errorf("apply the view's change %d..%d: it goes back", d.Since, d.Index)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("apply the view's change %d..%d: %w", d.Since, d.Index, err)
	}
	t := s.Txn(d.Index)
	if d.Trust != nil {
		t.SetTrust(*d.Trust)
	}
	for _, n := range d.Nodes {
		t.copyNode(n)
	}
	for _, w := range d.Workloads {
		t.copyWorkload(w)
	}
	for _, p := range d.Pods {
		t.copyPod(p)
	}
	for _, sc := range d.Statuses {
		v, ok := t.pods.Get([]byte(sc.Key))
		if !ok || !v.(*Pod).Summarized {
			return nil, fmt.Errorf("apply the view's change %d..%d: a status for pod %s, which the view does not hold as a summary", d.Since, d.Index, sc.Key)
		}
		p := *v.(*Pod)
		p.Status = sc.Status
		t.copyPod(&p)
	}
	for _, sv := range d.Services {
		t.copyService(sv)
	}
	for _, c := range d.Claims {
		t.RestoreClaimLocation(c)
	}
	for _, tok := range d.Tokens {
		t.PutToken(tok)
	}
	for _, o := range d.Objects {
		t.copyObject(o)
	}
	k := d.Deleted
	for _, name := range k.Nodes {
		t.DeleteNode(name)
	}
	for _, key := range k.Workloads {
		if v, ok := t.workloads.Get([]byte(key)); ok {
			w := v.(*Workload)
			t.DeleteWorkload(w.Kind, w.Namespace, w.Name)
		}
	}
	for _, key := range k.Pods {
		t.deletePod([]byte(key))
	}
	for _, key := range k.Services {
		t.services.Delete([]byte(key))
		note(&t.changes.services, key)
	}
	for _, key := range k.Claims {
		t.claims.Delete([]byte(key))
		note(&t.changes.claims, key)
	}
	for _, id := range k.Tokens {
		t.DeleteToken(id)
	}
	for _, key := range k.Objects {
		t.objects.Delete([]byte(key))
		note(&t.changes.objects, key)
	}
	if len(d.Pods) > 0 || len(k.Pods) > 0 {
		t.dropUnused(s, node)
	}
	return t.Commit(), nil
}

// dropUnused deletes the ConfigMaps and Secrets no pod on node uses, as
// the Txn holds its pods. s is the State the Txn was made from: a view
// holds few of them, so they are listed from it.
func (t *Txn) dropUnused(s *State, node string) {
	used := objectsUsedBy(nil)
	if node != "" {
		used = objectsUsedBy(t.PodsOnNode(node))
	}
	for _, kind := range []ObjectKind{KindConfigMap, KindSecret} {
		for _, o := range s.Objects(kind, "") {
			if key := o.Key(); !used[key] {
				if _, ok := t.objects.Get([]byte(key)); ok {
					t.DeleteObject(kind, o.Namespace, o.Name)
				}
			}
		}
	}
}

// check refuses a delta with a missing object or key (a member never
// sends one; a damaged stream might).
func (d *Delta) check() error {
	kinds := []struct {
		name  string
		nils  int
		empty bool
	}{
		{"node", nils(d.Nodes), slices.ContainsFunc(d.Nodes, func(n *Node) bool { return n != nil && n.Name == "" })},
		{"workload", nils(d.Workloads), slices.ContainsFunc(d.Workloads, func(w *Workload) bool { return w != nil && w.Name == "" })},
		{"pod", nils(d.Pods), slices.ContainsFunc(d.Pods, func(p *Pod) bool { return p != nil && p.Name == "" })},
		{"service", nils(d.Services), slices.ContainsFunc(d.Services, func(s *Service) bool { return s != nil && s.Name == "" })},
		{"claim", nils(d.Claims), slices.ContainsFunc(d.Claims, func(c *ClaimLocation) bool { return c != nil && c.Claim == "" })},
		{"token", nils(d.Tokens), slices.ContainsFunc(d.Tokens, func(t *Token) bool { return t != nil && t.ID == "" })},
		{"object", nils(d.Objects), slices.ContainsFunc(d.Objects, func(o *Object) bool { return o != nil && o.Name == "" })},
	}
	for _, k := range kinds {
		if k.nils > 0 || k.empty {
			return fmt.Errorf("a %s without a name", k.name)
		}
	}
	if slices.ContainsFunc(d.Statuses, func(s PodStatusChange) bool { return s.Key == "" }) {
		return errors.New("a pod's status without its key")
	}
	return nil
}

func nils[T any](list []*T) int {
	n := 0
	for _, v := range list {
		if v == nil {
			n++
		}
	}
	return n
}
