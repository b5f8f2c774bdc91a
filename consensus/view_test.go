package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"shoal/cluster"
	"shoal/internal/poll"
)

// connectView is connect for a view of node: ServeView instead of
// ServeStream. sent counts the bytes the member wrote.
func connectView(t *testing.T, member, client *Store, node string, sent *atomic.Int64) *stream {
	t.Helper()
	return connectServe(t, member, client, func(ctx context.Context, since uint64, w io.Writer) error {
		if !client.HoldsView() {
			since = 0
		}
		return member.ServeView(ctx, since, node, countingWriter{w, sent}, nil)
	})
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	if c.n != nil {
		c.n.Add(int64(len(b)))
	}
	return c.w.Write(b)
}

// waitView waits until client holds node's view of member's state at the
// leader's index, then compares the two.
func waitView(t *testing.T, l, member, client *Store, node string) {
	t.Helper()
	idx := l.State().Index()
	poll.Until(t, waitTimeout, "the member and the view at the leader's index", func() (bool, string) {
		w, g := member.State().Index(), client.State().Index()
		return w >= idx && g == w, fmt.Sprintf("leader %d, member %d, view %d", idx, w, g)
	})
	statesEqual(t, withoutCAKey(member.State()).View(node), client.State())
}

func placedPod(name, node string) *cluster.Pod {
	p := testPod(name, 100, 1<<20, 0)
	p.NodeName = node
	p.Spec.Containers[0].Env = []cluster.EnvVar{{Name: "SECRETISH", Value: strings.Repeat("x", 200)}}
	p.Spec.Containers[0].Ports = []cluster.ContainerPort{{Name: "http", ContainerPort: 80}}
	return p
}

func statusOf(node string, ready bool, msg string, pods ...string) *PodStatus {
	c := &PodStatus{Node: node}
	for _, name := range pods {
		c.Updates = append(c.Updates, cluster.PodStatusUpdate{Ref: cluster.PodRef{Namespace: "default", Name: name, UID: "uid-" + name},
			Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: ready, PodIP: "10.9.0.1", Message: msg}})
	}
	return c
}

// TestViewStreamFollowsMember: a follower of node n1's view holds
// exactly the member's state as n1's view, through every kind of change,
// a resume on another member without a whole view, and new settings
// (which need one); its own pods in full, the others summarized.
func TestViewStreamFollowsMember(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.leader(t)
	var others []*Store
	for _, m := range c.stores {
		if m != l {
			others = append(others, m)
		}
	}
	mustApply(t, l, &PutNode{Node: testNode("w1", 4000, 8<<30)}, &PutNode{Node: testNode("w2", 4000, 8<<30)})
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("a", "w1"), placedPod("b", "w2"), placedPod("c", "w2")}})
	client := newClient(t, c, "w1")
	s := connectView(t, others[0], client, "w1", nil)
	waitView(t, l, others[0], client, "w1")

	mustApply(t, l, &PutWorkload{Workload: testWorkload("web", 2, "nginx")}, &PutService{Service: &cluster.Service{Namespace: "default", Name: "web", UID: "s1"}})
	mustApply(t, l, statusOf("w2", true, "up", "b", "c"), statusOf("w1", true, "up", "a"))
	mustApply(t, l, &TerminatePods{Pods: []cluster.PodRef{{Namespace: "default", Name: "c", UID: "uid-c"}}})
	stopped := statusOf("w2", false, "stopped", "c")
	stopped.Updates[0].Status.Stopped = true
	mustApply(t, l, stopped)
	waitView(t, l, others[0], client, "w1")
	if p, ok := client.State().Pod("default", "c"); ok && (!p.Terminating || !p.Status.Stopped) {
		t.Fatalf("the view holds the pod its node stopped as %+v", p)
	}
	own, _ := client.State().Pod("default", "a")
	other, _ := client.State().Pod("default", "b")
	if own.Summarized || own.Spec.Containers[0].Image != "nginx" || own.Status.Message != "up" {
		t.Fatalf("own pod %+v: want it whole", own)
	}
	if !other.Summarized || other.Spec.Containers[0].Env != nil || other.Spec.Containers[0].Ports[0].Name != "http" || !other.Ready() {
		t.Fatalf("other node's pod %+v: want its summary, ready, with its port", other)
	}

	// Resumed on another member: a change, not the whole view.
	s.stop()
	mustApply(t, l, &PutNode{Node: testNode("w3", 1000, 1<<30)})
	var sent atomic.Int64
	s = connectView(t, others[1], client, "w1", &sent)
	waitView(t, l, others[1], client, "w1")
	if n := sent.Load(); n > 2000 {
		t.Fatalf("resuming sent %d bytes: want a change, not the whole view", n)
	}
	// New settings are not a change of keys: the whole view again.
	mustApply(t, l, &SetConfig{Config: cluster.Config{ClusterCIDR: "10.64.0.0/16", ServiceCIDR: "172.31.0.0/16"}})
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("d", "w1")}})
	waitView(t, l, others[1], client, "w1")
	if _, ok := client.State().Pod("default", "d"); !ok {
		t.Fatal("the pod put after new settings is missing")
	}
	s.stop()

	// The log's entries cannot be applied to a view: the follower says
	// so and its state is left as it was (and not halted).
	before := client.State().Index()
	mustApply(t, l, &PutNode{Node: testNode("w4", 1000, 1<<30)})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	pr, pw := io.Pipe()
	go func() { _ = pw.CloseWithError(others[1].ServeStream(ctx, before, pw, nil)) }()
	err := client.Follow(ctx, pr)
	_ = pr.CloseWithError(err)
	if err == nil || !strings.Contains(err.Error(), "view") {
		t.Fatalf("entries followed on a view: %v", err)
	}
	if client.State().Index() != before || client.fsm.haltErr() != nil {
		t.Fatalf("the view moved to %d (from %d) or halted: %v", client.State().Index(), before, client.fsm.haltErr())
	}
	// A whole snapshot makes it a whole state again, which entries follow.
	connect(t, l, client).stop()
	c2 := newClient(t, c, "fresh")
	connect(t, l, c2)
	waitSame(t, l, l, c2)
}

// TestViewStreamSendsLessThanTheLog: status churn on other nodes that
// changes no summary (messages) costs a view's follower an index a
// change; the log's stream carries all of it. Readiness still arrives.
func TestViewStreamSendsLessThanTheLog(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.leader(t)
	var pods []*cluster.Pod
	var names []string
	for i := range 20 {
		name := fmt.Sprintf("p%02d", i)
		pods = append(pods, placedPod(name, "w2"))
		names = append(names, name)
	}
	mustApply(t, l, &PutNode{Node: testNode("w1", 4000, 8<<30)}, &PutNode{Node: testNode("w2", 4000, 8<<30)})
	mustApply(t, l, &PutPods{Pods: pods})
	mustApply(t, l, statusOf("w2", true, "started", names...))
	view, full := newClient(t, c, "w1"), newClient(t, c, "w1-full")
	var viewSent, fullSent atomic.Int64
	connectView(t, l, view, "w1", &viewSent)
	sf := connect(t, l, full)
	waitView(t, l, l, view, "w1")
	waitSame(t, l, l, full)
	sf.stop()
	// Counting the log's stream from here on.
	since := full.State().Index()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	go func() { _ = pw.CloseWithError(l.ServeStream(ctx, since, countingWriter{pw, &fullSent}, nil)) }()
	go func() { _ = full.Follow(ctx, pr) }()
	viewSent.Store(0)
	for i := range 30 {
		mustApply(t, l, statusOf("w2", true, fmt.Sprintf("probe %d", i), names...))
	}
	mustApply(t, l, statusOf("w2", false, "probe failed", names[0]))
	waitView(t, l, l, view, "w1")
	waitSame(t, l, l, full)
	if p, _ := view.State().Pod("default", names[0]); p.Ready() {
		t.Fatal("the view missed a pod turning unready")
	}
	v, f := viewSent.Load(), fullSent.Load()
	t.Logf("31 status batches of 20 pods on another node: view %d bytes, log %d bytes", v, f)
	if v*10 > f {
		t.Fatalf("the view's stream sent %d bytes against the log's %d: want under a tenth", v, f)
	}
}

// TestServeViewNeedsANode: a view is of a node.
func TestServeViewNeedsANode(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	if err := c.leader(t).ServeView(context.Background(), 0, "", io.Discard, nil); err == nil || errors.Is(err, ErrNotMember) {
		t.Fatalf("a view of no node: %v", err)
	}
}

// TestViewFollowerPromoted: an agent following its view is added to
// Raft. Raft, fed from the log's start, builds the whole state behind
// the view and replaces it once caught up; the agent then holds the
// leader's state exactly, applies what follows, and takes no view again.
func TestViewFollowerPromoted(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("leader's log compacted %v", compact), func(t *testing.T) { testViewFollowerPromoted(t, compact) })
	}
}

// testViewFollowerPromoted: with compact the leader has cut its log, so
// Raft feeds the promoted agent a snapshot first, not the log's start.
func testViewFollowerPromoted(t *testing.T, compact bool) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 1 })
	l := c.leader(t)
	mustApply(t, l, &PutNode{Node: testNode("w1", 4000, 8<<30)}, &PutNode{Node: testNode("w2", 4000, 8<<30)})
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("a", "w1"), placedPod("b", "w2")}})
	client := newClient(t, c, "w1")
	if !client.ViewsAllowed() {
		t.Fatal("a new agent outside Raft may not follow a view")
	}
	s := connectView(t, l, client, "w1", nil)
	waitView(t, l, l, client, "w1")
	if !client.HoldsView() {
		t.Fatal("following a view, the agent says it holds none")
	}
	if compact {
		mustApply(t, l, &PutNode{Node: testNode("w3", 1000, 1<<30)})
		if err := l.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := l.AddNonvoter(ctx, "w1", client.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		mustApply(t, l, &PutWorkload{Workload: testWorkload(fmt.Sprintf("w%d", i), 1, "nginx")})
	}
	poll.Until(t, waitTimeout, "the promoted agent live in raft with the whole state", func() (bool, string) {
		return client.RaftLive() && !client.HoldsView(), fmt.Sprintf("live %v, view %v", client.RaftLive(), client.HoldsView())
	})
	s.stop()
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("c", "w2")}})
	waitSame(t, l, l, client)
	if p, _ := client.State().Pod("default", "b"); p.Summarized || p.Spec.Containers[0].Image != "nginx" {
		t.Fatalf("after promotion another node's pod is %+v: want it whole", p)
	}
	if client.fsm.haltErr() != nil || client.ViewsAllowed() {
		t.Fatalf("halted %v, views allowed %v: want neither", client.fsm.haltErr(), client.ViewsAllowed())
	}
	// A view is refused from now on, and changes nothing.
	before := client.State()
	pr, pw := io.Pipe()
	go func() { _ = pw.CloseWithError(l.ServeView(ctx, 0, "w1", pw, nil)) }()
	err := client.Follow(ctx, pr)
	_ = pr.CloseWithError(err)
	if err == nil || client.State() != before {
		t.Fatalf("a view followed after raft fed the agent: %v", err)
	}
}

// TestServeRefusedWhileHoldingView: a member whose readers still see the
// view it held (Raft rebuilding the whole state behind it) serves no
// stream: it would send a view as the whole state.
func TestServeRefusedWhileHoldingView(t *testing.T) {
	l := newTestCluster(t, 1, nil).leader(t)
	l.fsm.view.Store(true)
	defer l.fsm.view.Store(false)
	if err := l.ServeStream(context.Background(), 0, io.Discard, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("the log's stream from a store holding a view: %v, want ErrNotMember", err)
	}
	if err := l.ServeView(context.Background(), 0, "w1", io.Discard, nil); !errors.Is(err, ErrNotMember) {
		t.Fatalf("a view from a store holding a view: %v, want ErrNotMember", err)
	}
}

// TestViewHoldsItsPodsSecrets: a node's view holds the Secrets (and
// ConfigMaps) its own pods use and no other, whichever way it is sent
// (whole, a change, a change on resuming without the earlier state): one
// arrives with the pod placed on the node that uses it, follows its
// updates, and goes when the last pod using it leaves.
func TestViewHoldsItsPodsSecrets(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.leader(t)
	secret := func(name, data string) *cluster.Object {
		return &cluster.Object{Kind: cluster.KindSecret, Namespace: "default", Name: name, UID: "u-" + name, SecretType: cluster.SecretOpaque,
			Sealed: []byte(data), SecretKeys: []string{"k"}}
	}
	using := func(name, node, secret string) *cluster.Pod {
		p := placedPod(name, node)
		p.Spec.Volumes = []cluster.Volume{{Name: "s", Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: secret}}}}
		return p
	}
	remove := func(name, node string) {
		t.Helper()
		ref := cluster.PodRef{Namespace: "default", Name: name, UID: "uid-" + name}
		stopped := statusOf(node, false, "stopped", name)
		stopped.Updates[0].Status.Stopped = true
		mustApply(t, l, &TerminatePods{Pods: []cluster.PodRef{ref}})
		mustApply(t, l, stopped)
		mustApply(t, l, &ApplyPlan{Plan: &cluster.Plan{Delete: []cluster.PodRef{ref}}})
	}
	holdsKind := func(t *testing.T, client *Store, kind cluster.ObjectKind, want ...string) {
		t.Helper()
		var got []string
		for _, o := range client.State().Objects(kind, "") {
			got = append(got, o.Name)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the view of w1 holds the %ss %v, want %v", kind, got, want)
		}
	}
	holds := func(t *testing.T, client *Store, want ...string) {
		t.Helper()
		holdsKind(t, client, cluster.KindSecret, want...)
	}
	configMap := func(name string) *cluster.Object {
		return &cluster.Object{Kind: cluster.KindConfigMap, Namespace: "default", Name: name, UID: "u-" + name, Data: map[string]string{"k": "v"}}
	}

	mustApply(t, l, &PutNode{Node: testNode("w1", 4000, 8<<30)}, &PutNode{Node: testNode("w2", 4000, 8<<30)})
	mustApply(t, l, &PutObjects{Objects: []*cluster.Object{secret("db", "v1"), secret("tls", "v1"), secret("unused", "v1"),
		configMap("settings"), configMap("theirs")}})
	pull := placedPod("pull", "w1")
	pull.Spec.ImagePullSecrets = []string{"registry"}
	pull.Spec.Containers[0].EnvFrom = []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "settings"}}}
	b := using("b", "w2", "tls")
	b.Spec.Containers[0].EnvFrom = []cluster.EnvFromSource{{ConfigMapRef: &cluster.ObjectRef{Name: "theirs"}}}
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{using("a", "w1", "db"), b, pull}})
	client := newClient(t, c, "w1")
	s := connectView(t, l, client, "w1", nil)
	waitView(t, l, l, client, "w1")
	holds(t, client, "db") // whole: not tls (w2's), unused, or registry (none yet)
	holdsKind(t, client, cluster.KindConfigMap, "settings")

	// Changes: a pull Secret created after its pod, a Secret updated, a
	// pod using w2's Secret placed on w1.
	mustApply(t, l, &PutObjects{Objects: []*cluster.Object{secret("registry", "v1"), secret("db", "v2")}})
	unplaced := using("c", "", "tls")
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{unplaced}})
	mustApply(t, l, &ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: unplaced.Ref(), Node: "w1"}}}})
	waitView(t, l, l, client, "w1")
	holds(t, client, "db", "registry", "tls")
	if o, _ := client.State().Object(cluster.KindSecret, "default", "db"); string(o.Sealed) != "v2" {
		t.Fatalf("the view holds db's data %q, want the update", o.Sealed)
	}
	// An update to a Secret only w2 uses reaches w2 only.
	remove("c", "w1")
	waitView(t, l, l, client, "w1")
	holds(t, client, "db", "registry")
	mustApply(t, l, &PutObjects{Objects: []*cluster.Object{secret("tls", "v2")}})
	waitView(t, l, l, client, "w1")
	holds(t, client, "db", "registry")

	// Resumed without the earlier state: a pod that left takes its
	// Secret with it, one placed brings its own.
	s.stop()
	remove("a", "w1")
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{using("d", "w1", "unused")}})
	connectView(t, l, client, "w1", nil)
	waitView(t, l, l, client, "w1")
	holds(t, client, "registry", "unused")
}
