package consensus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"shoal/cluster"
)

// memSink is a raft.SnapshotSink in memory; failAfter makes writes fail
// after that many bytes.
type memSink struct {
	bytes.Buffer
	failAfter         int
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

// richState builds a state with every kind of object and field that a
// snapshot must carry.
func richState(t *testing.T) *cluster.State {
	h := newHarness(t)
	h.must(&SetConfig{Config: cluster.Config{ClusterID: "c1", ClusterCIDR: "10.0.0.0/8", ServiceCIDR: "172.30.0.0/16"}})
	for i := range 50 {
		n := testNode("node-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 4000, 8<<30, "GPU-x")
		n.Labels = map[string]string{"zone": "z1"}
		h.must(&PutNode{Node: n})
	}
	h.must(&SetNodeSchedulable{Name: "node-aa", Schedulable: false})
	w := testWorkload("web", 3, "nginx:1")
	h.must(&PutWorkload{Workload: w})
	h.must(&PutWorkload{Workload: testWorkload("web", 3, "nginx:2")})
	h.must(&PutService{Service: &cluster.Service{Name: "web", UID: "s1", Selector: map[string]string{"app": "web"},
		Ports: []cluster.ServicePort{{Port: 80, TargetPort: 8080}}}})
	var create []*cluster.Pod
	for i := range 200 {
		p := owned(testPod("web-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 10, 1<<20, 0), "")
		if i%2 == 0 {
			p.NodeName = "node-ba"
		}
		create = append(create, p)
	}
	gp := placed(testPod("gpu", 10, 0, 1), "node-ca")
	gp.GPUs = []string{"GPU-x"}
	create = append(create, gp)
	h.must(&ApplyPlan{Plan: &cluster.Plan{Create: create}})
	h.must(&PodStatus{Node: "node-ba", Updates: []cluster.PodStatusUpdate{{Ref: ref("web-aa"), Status: cluster.PodStatus{
		Phase: cluster.PodRunning, PodIP: "10.0.1.2", Ready: true, StartedAt: time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC),
		Containers: []cluster.ContainerStatus{{Name: "c", State: cluster.ContainerRunning, RestartCount: 2}},
	}}}})
	h.must(&InitTrust{Trust: testTrust()})
	h.must(&SetPodSecurity{Level: "restricted", AllowedHostPaths: []string{"/srv/shoal"}})
	h.must(&PutToken{Token: testToken("t1", "ci", cluster.RoleView)})
	h.must(&PutObjects{Objects: []*cluster.Object{
		{Kind: cluster.KindNamespace, Name: "shop", UID: "n1", Labels: map[string]string{"team": "a"}},
		{Kind: cluster.KindConfigMap, Namespace: "shop", Name: "cfg", UID: "c1", Data: map[string]string{"k": "v"},
			BinaryData: map[string][]byte{"b": {0, 1}}},
		{Kind: cluster.KindSecret, Namespace: "shop", Name: "s", UID: "s1", SecretType: cluster.SecretOpaque,
			Sealed: []byte{1, 2, 3}, SecretKeys: []string{"password"}, Immutable: true},
		{Kind: cluster.KindClusterRole, Name: "reader", UID: "r1", Raw: []byte(`{"rules":[]}`)},
	}})
	h.must(&SetSecretKey{ID: "k1"})
	return h.state()
}

func statesEqual(t testing.TB, a, b *cluster.State) {
	t.Helper()
	if a.Index() != b.Index() || !reflect.DeepEqual(a.Config(), b.Config()) {
		t.Fatalf("index/config %d %+v vs %d %+v", a.Index(), a.Config(), b.Index(), b.Config())
	}
	if !reflect.DeepEqual(a.Nodes(), b.Nodes()) || !reflect.DeepEqual(a.Workloads(), b.Workloads()) ||
		!reflect.DeepEqual(a.Services(), b.Services()) {
		t.Fatal("nodes, workloads or services differ")
	}
	var pa, pb []*cluster.Pod
	for p := range a.Pods() {
		pa = append(pa, p)
	}
	for p := range b.Pods() {
		pb = append(pb, p)
	}
	if !reflect.DeepEqual(pa, pb) {
		t.Fatal("pods differ")
	}
	for _, n := range a.Nodes() {
		if !reflect.DeepEqual(a.PodsOnNode(n.Name), b.PodsOnNode(n.Name)) {
			t.Fatalf("pods on %s differ", n.Name)
		}
	}
	if !reflect.DeepEqual(a.Trust(), b.Trust()) || !reflect.DeepEqual(a.Tokens(), b.Tokens()) {
		t.Fatalf("trust or tokens differ: %+v %+v vs %+v %+v", a.Trust(), a.Tokens(), b.Trust(), b.Tokens())
	}
	if !reflect.DeepEqual(a.AllObjects(), b.AllObjects()) {
		t.Fatalf("objects differ: %+v vs %+v", a.AllObjects(), b.AllObjects())
	}
	if len(a.PodsOwnedBy("wl-web")) != len(b.PodsOwnedBy("wl-web")) {
		t.Fatal("owner index differs")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	orig := richState(t)
	sink := &memSink{}
	if err := (&fsmSnapshot{state: orig}).Persist(sink); err != nil {
		t.Fatal(err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	f := newFSM(testLogger(t))
	ch := f.changedCh()
	if err := f.Restore(readCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	default:
		t.Error("restore did not signal a change")
	}
	statesEqual(t, orig, f.state.Load())

	// A truncated snapshot is an error, never a partial state.
	for _, n := range []int{0, 10, sink.Len() / 2, sink.Len() - 1} {
		if _, err := readSnapshot(bytes.NewReader(sink.Bytes()[:n])); err == nil {
			t.Errorf("snapshot truncated to %d bytes restored", n)
		}
	}
}

func TestPersistCancelsOnError(t *testing.T) {
	sink := &memSink{failAfter: 1000}
	if err := (&fsmSnapshot{state: richState(t)}).Persist(sink); err == nil {
		t.Fatal("persist succeeded on a failing sink")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("cancelled %v closed %v", sink.cancelled, sink.closed)
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
