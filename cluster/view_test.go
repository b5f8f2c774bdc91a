package cluster

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

// viewDump is everything a view holds, secondary indexes included, in an
// order of its own: two views are the same when their dumps are.
func viewDump(t *testing.T, s *State, nodes, owners []string) string {
	t.Helper()
	keys := func(ps []*Pod) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = p.Key()
		}
		return out
	}
	var pods []*Pod
	for p := range s.Pods() {
		pods = append(pods, p)
	}
	byNode := map[string][]string{}
	for _, n := range nodes {
		byNode[n] = keys(s.PodsOnNode(n))
	}
	byOwner := map[string][]string{}
	for _, o := range owners {
		byOwner[o] = keys(s.PodsOwnedBy(o))
	}
	b, err := json.Marshal(map[string]any{
		"index": s.Index(), "config": s.Config(), "trust": s.Trust(), "nodes": s.Nodes(), "workloads": s.Workloads(),
		"pods": pods, "services": s.Services(), "claims": s.ClaimLocations(), "tokens": s.Tokens(), "objects": s.AllObjects(),
		"byNode": byNode, "byOwner": byOwner, "waiting": keys(s.WaitingPods()), "antiAffinity": keys(s.PodsWithRequiredAntiAffinity()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// viewOps changes a state at random, a few objects of every kind at a
// time, the way commands do.
type viewOps struct {
	r      *rand.Rand
	nodes  []string
	owners []string
}

func (o *viewOps) pick(list []string) string { return list[o.r.IntN(len(list))] }

func (o *viewOps) pod(i int) *Pod {
	name := "p" + strconv.Itoa(i)
	p := &Pod{
		Namespace: "default", Name: name, UID: "uid-" + name + "-" + strconv.Itoa(o.r.IntN(3)), Ordinal: -1,
		Labels:      map[string]string{"app": "a" + strconv.Itoa(i%3), "v": strconv.Itoa(o.r.IntN(2))},
		Annotations: map[string]string{"note": strconv.Itoa(o.r.IntN(5))},
		Spec: PodSpec{Hostname: name, Subdomain: "sub", Containers: []Container{{
			Name: "c", Image: "img:" + strconv.Itoa(o.r.IntN(3)), Env: []EnvVar{{Name: "X", Value: strconv.Itoa(o.r.IntN(9))}},
			Ports: []ContainerPort{{Name: "http", ContainerPort: int32(8000 + o.r.IntN(2))}},
		}}},
		Status: PodStatus{
			Phase: []PodPhase{PodPending, PodRunning}[o.r.IntN(2)], Ready: o.r.IntN(2) == 0, PodIP: "10.0.0." + strconv.Itoa(i),
			Message: "m" + strconv.Itoa(o.r.IntN(4)), Containers: []ContainerStatus{{Name: "c", RestartCount: int32(o.r.IntN(3))}},
		},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if o.r.IntN(4) > 0 {
		p.NodeName = o.pick(o.nodes)
	}
	if o.r.IntN(2) == 0 {
		p.Owner = &OwnerRef{Kind: KindDeployment, Name: "w", UID: o.pick(o.owners)}
	}
	if o.r.IntN(5) == 0 {
		p.Spec.Affinity = &Affinity{PodAntiAffinity: &PodAffinity{Required: []PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname"}}}}
	}
	p.Terminating = o.r.IntN(6) == 0
	// ConfigMaps and Secrets the pod uses, each way a spec can: the
	// nodes' views hold only those of their own pods.
	secret, cm := "sec"+strconv.Itoa(o.r.IntN(4)), "cm"+strconv.Itoa(o.r.IntN(3))
	switch o.r.IntN(3) {
	case 0:
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, EnvVar{Name: "C", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &KeyRef{Name: cm, Key: "k"}}})
	case 1:
		p.Spec.InitContainers = []Container{{Name: "init", EnvFrom: []EnvFromSource{{ConfigMapRef: &ObjectRef{Name: cm}}}}}
	}
	switch o.r.IntN(5) {
	case 0:
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, EnvVar{Name: "S", ValueFrom: &EnvVarSource{SecretKeyRef: &KeyRef{Name: secret, Key: "k"}}})
	case 1:
		p.Spec.Volumes = []Volume{{Name: "v", Secret: &SecretVolumeSource{SecretProjection: SecretProjection{Name: secret}}}}
	case 2:
		p.Spec.ImagePullSecrets = []string{secret}
	case 3:
		p.Spec.Volumes = []Volume{{Name: "v", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{Secret: &SecretProjection{Name: secret}}}}}}
	}
	return p
}

// step makes one transaction of a few random changes.
func (o *viewOps) step(t *Txn) {
	for range 1 + o.r.IntN(6) {
		i := o.r.IntN(12)
		switch o.r.IntN(18) {
		case 0, 1, 2, 3, 4:
			t.PutPod(o.pod(i))
		case 5: // a status report: the pod as it was, its status changed
			if p, ok := t.Pod("default", "p"+strconv.Itoa(i)); ok {
				c := p.Clone()
				c.Status.Ready, c.Status.Message = !c.Status.Ready, "probe "+strconv.Itoa(o.r.IntN(9))
				if o.r.IntN(3) == 0 {
					c.Status.PodIP = "10.0.1." + strconv.Itoa(o.r.IntN(9))
				}
				t.PutPod(c)
			}
		case 6:
			t.DeletePod("default", "p"+strconv.Itoa(i))
		case 7:
			t.PutNode(&Node{Name: o.pick(o.nodes), Address: "10.1.0." + strconv.Itoa(i), Status: NodeReady})
		case 8:
			t.DeleteNode(o.pick(o.nodes))
		case 9:
			t.PutWorkload(&Workload{Kind: KindDeployment, Namespace: "default", Name: "w" + strconv.Itoa(i%3), UID: o.pick(o.owners), Replicas: int32(i)})
		case 10:
			t.DeleteWorkload(KindDeployment, "default", "w"+strconv.Itoa(i%3))
		case 11:
			t.PutService(&Service{Namespace: "default", Name: "s" + strconv.Itoa(i%3), UID: "s", Labels: map[string]string{"i": strconv.Itoa(i)}})
			if i%4 == 0 {
				t.DeleteService("default", "s"+strconv.Itoa((i+1)%3))
			}
		case 12:
			t.PutObject(&Object{Kind: KindConfigMap, Namespace: "default", Name: "cm" + strconv.Itoa(i%3), UID: "u", Labels: map[string]string{"i": strconv.Itoa(i)}})
			if i%4 == 0 {
				t.DeleteObject(KindConfigMap, "default", "cm"+strconv.Itoa((i+1)%3))
			}
		case 13:
			t.PutClaimLocation(&ClaimLocation{Namespace: "default", Claim: "data-" + strconv.Itoa(i%3), Node: o.pick(o.nodes)})
			if i%4 == 0 {
				t.DeleteClaimLocation("default", "data-"+strconv.Itoa((i+1)%3))
			}
		case 14:
			t.PutToken(&Token{ID: "t" + strconv.Itoa(i%3), Name: "n" + strconv.Itoa(i), Role: "admin"})
			if i%4 == 0 {
				t.DeleteToken("t" + strconv.Itoa((i+1)%3))
			}
		case 16, 17: // a Secret, in the pods' namespace or another
			ns := []string{"default", "default", "other"}[o.r.IntN(3)]
			name := "sec" + strconv.Itoa(i%4)
			if o.r.IntN(3) == 0 {
				t.DeleteObject(KindSecret, ns, name)
			} else {
				t.PutObject(&Object{Kind: KindSecret, Namespace: ns, Name: name, UID: "u", Sealed: []byte("sealed" + strconv.Itoa(i)), SecretKeys: []string{"k"}})
			}
		case 15:
			tr := t.Trust()
			tr.JoinSecretHash = strconv.Itoa(i)
			t.SetTrust(tr)
		}
	}
	if o.r.IntN(40) == 0 {
		c := t.Config()
		c.ClusterCIDR = fmt.Sprintf("10.%d.0.0/16", o.r.IntN(200))
		t.SetConfig(c)
	}
}

// roundTrip is d as a follower decodes it: its own objects.
func roundTrip(t *testing.T, d *Delta) *Delta {
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	out := &Delta{}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestViewFollowsDeltas drives a state through random transactions and
// keeps a view of it for each of a few nodes (and an unplaced view) from
// the deltas alone: after every step each view must be exactly
// View(node) of the state, indexes and all. Followers apply a delta per
// transaction or, one in three times, skip ahead over several; with and
// without the earlier State to compare summaries against.
func TestViewFollowsDeltas(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			o := &viewOps{r: rand.New(rand.NewPCG(seed, 7)), nodes: []string{"n1", "n2", "n3"}, owners: []string{"o1", "o2"}}
			full := Empty()
			states := map[uint64]*State{0: full}
			type follower struct {
				node  string
				prev  bool // compare against the State the view was at
				view  *State
				sent  int
				whole int
				// shared counts the deltas made once for every view
				// but those of the nodes the change's pods were on.
				shared int
			}
			var fs []*follower
			statuses := 0
			for _, n := range []string{"n1", "n2", ""} {
				for _, prev := range []bool{true, false} {
					fs = append(fs, &follower{node: n, prev: prev, view: full.View(n)})
				}
			}
			for i := uint64(1); i <= 150; i++ {
				txn := full.Txn(i)
				o.step(txn)
				full = txn.Commit()
				states[i] = full
				wants := map[string]string{}
				for _, f := range fs {
					if o.r.IntN(3) == 0 && i < 150 {
						continue // this follower catches up later, over several steps
					}
					var prev *State
					if f.prev {
						prev = states[f.view.Index()]
					}
					d, ok := full.DeltaSince(f.view.Index(), prev, f.node)
					if sd, nodes, sok := full.SharedDelta(f.view.Index(), prev); sok && !nodes[f.node] {
						d, ok, f.shared = sd, true, f.shared+1
					} else if sok != (prev != nil && ok) {
						t.Fatalf("step %d: a shared delta %v, one of %q's own %v", i, sok, f.node, ok)
					}
					if !ok {
						f.view, f.whole = full.View(f.node), f.whole+1
						continue
					}
					statuses += len(d.Statuses)
					v, err := f.view.ApplyDelta(roundTrip(t, d), f.node)
					if err != nil {
						t.Fatalf("step %d, view of %q: %v", i, f.node, err)
					}
					f.view, f.sent = v, f.sent+d.Size()
					want, ok := wants[f.node]
					if !ok {
						want = viewDump(t, full.View(f.node), o.nodes, o.owners)
						wants[f.node] = want
					}
					if got := viewDump(t, f.view, o.nodes, o.owners); got != want {
						t.Fatalf("step %d, view of %q (prev %v) differs from the state's view\n got %s\nwant %s", i, f.node, f.prev, got, want)
					}
				}
			}
			if statuses == 0 {
				t.Fatal("no delta carried a status alone")
			}
			for _, f := range fs {
				if f.whole == 0 && seed == 0 {
					t.Logf("view of %q (prev %v): no whole view sent", f.node, f.prev)
				}
				if f.sent == 0 {
					t.Fatalf("view of %q: no delta carried anything", f.node)
				}
				if f.prev && f.shared == 0 {
					t.Fatalf("view of %q: no shared delta applied", f.node)
				}
			}
		})
	}
}

// TestDeltaLeavesOutUnchangedSummaries: a change to what a summary drops
// (a message, a restart count) reaches the pod's own node only.
func TestDeltaLeavesOutUnchangedSummaries(t *testing.T) {
	txn := Empty().Txn(1)
	p := &Pod{Namespace: "default", Name: "web-0", UID: "u", NodeName: "n1", Ordinal: -1,
		Spec:   PodSpec{Containers: []Container{{Name: "c", Image: "img", Ports: []ContainerPort{{Name: "http", ContainerPort: 80}}}}},
		Status: PodStatus{Phase: PodRunning, Ready: true, PodIP: "10.0.0.2", Message: "started"}}
	txn.PutPod(p)
	s1 := txn.Commit()

	txn = s1.Txn(2)
	q := p.Clone()
	q.Status.Message, q.Status.Containers = "restarted", []ContainerStatus{{Name: "c", RestartCount: 1}}
	txn.PutPod(q)
	s2 := txn.Commit()

	txn = s2.Txn(3)
	r := q.Clone()
	r.Status.Ready = false
	txn.PutPod(r)
	s3 := txn.Commit()

	tests := []struct {
		name       string
		from, to   *State
		prev       bool
		node       string
		wantPods   int
		wantSumm   bool
		wantStatus PodStatus
		// wantOnly: the change goes as the pod's status alone.
		wantOnly bool
	}{
		{"own node sees the message", s1, s2, true, "n1", 1, false, q.Status, false},
		{"other node skips it", s1, s2, true, "n2", 0, false, PodStatus{}, false},
		{"without the earlier state it is sent", s1, s2, false, "n2", 1, true, PodStatus{Phase: PodRunning, Ready: true, PodIP: "10.0.0.2"}, false},
		{"readiness reaches every node, as a status", s2, s3, true, "n2", 0, true, PodStatus{Phase: PodRunning, PodIP: "10.0.0.2"}, true},
		{"over both steps", s1, s3, true, "n2", 0, true, PodStatus{Phase: PodRunning, PodIP: "10.0.0.2"}, true},
		{"own node gets the whole pod", s2, s3, true, "n1", 1, false, r.Status, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prev *State
			if tt.prev {
				prev = tt.from
			}
			d, ok := tt.to.DeltaSince(tt.from.Index(), prev, tt.node)
			if !ok {
				t.Fatal("no delta")
			}
			if len(d.Pods) != tt.wantPods {
				t.Fatalf("pods %d, want %d", len(d.Pods), tt.wantPods)
			}
			if tt.wantOnly {
				if len(d.Statuses) != 1 || d.Statuses[0].Key != "default/web-0" || !reflect.DeepEqual(d.Statuses[0].Status, tt.wantStatus) {
					t.Fatalf("statuses %+v, want web-0's %+v", d.Statuses, tt.wantStatus)
				}
				return
			}
			if len(d.Statuses) != 0 {
				t.Fatalf("statuses %+v, want none", d.Statuses)
			}
			if tt.wantPods == 0 {
				return
			}
			got := d.Pods[0]
			if got.Summarized != tt.wantSumm || !slices.Equal(got.Status.Containers, tt.wantStatus.Containers) || got.Status.Message != tt.wantStatus.Message ||
				got.Status.Ready != tt.wantStatus.Ready || got.Status.PodIP != tt.wantStatus.PodIP {
				t.Fatalf("pod %+v, want summarized %v, status %+v", got, tt.wantSumm, tt.wantStatus)
			}
			if tt.wantSumm && (got.Spec.Containers[0].Image != "" || got.Spec.Containers[0].Ports[0].Name != "http") {
				t.Fatalf("summary's container %+v: want its name and ports only", got.Spec.Containers[0])
			}
		})
	}
}

func TestApplyDeltaRefusesAGap(t *testing.T) {
	s := Empty().Txn(5).Commit()
	for _, d := range []*Delta{{Since: 4, Index: 6}, {Since: 6, Index: 7}, {Since: 5, Index: 4}} {
		if _, err := s.ApplyDelta(d, "n1"); err == nil {
			t.Fatalf("delta %d..%d applied to a view at 5", d.Since, d.Index)
		}
	}
}

// TestMayHaveHeldRaft: who may follow the whole state, as the state tells.
func TestMayHaveHeldRaft(t *testing.T) {
	txn := Empty().Txn(5)
	txn.PutNode(&Node{Name: "old"}) // created at 5
	s5 := txn.Commit()
	txn = s5.Txn(9)
	txn.PutNode(&Node{Name: "new"}) // created at 9
	s9 := txn.Commit()
	withTrust := func(tr Trust) *State {
		txn := s9.Txn(10)
		txn.SetTrust(tr)
		return txn.Commit()
	}
	tests := []struct {
		name  string
		trust Trust
		node  string
		want  bool
	}{
		{"nothing marked yet", Trust{}, "new", true},
		{"marked", Trust{RaftNodes: []string{"a", "new"}, MarksSince: 2}, "new", true},
		{"unmarked, created after the marks", Trust{RaftNodes: []string{"a"}, MarksSince: 2}, "new", false},
		{"unmarked, created before the marks (an upgraded cluster)", Trust{RaftNodes: []string{"a"}, MarksSince: 7}, "old", true},
		{"unmarked, created when the marks began", Trust{RaftNodes: []string{"a"}, MarksSince: 9}, "new", false},
		{"no record", Trust{RaftNodes: []string{"a"}, MarksSince: 7}, "ghost", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withTrust(tt.trust).MayHaveHeldRaft(tt.node); got != tt.want {
				t.Fatalf("MayHaveHeldRaft(%q) = %v, want %v", tt.node, got, tt.want)
			}
		})
	}
}
