package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	mustApply(t, l, &PutNode{Node: testNode("n1", 4000, 8<<30)}, &PutNode{Node: testNode("n2", 4000, 8<<30)})
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("a", "n1"), placedPod("b", "n2"), placedPod("c", "n2")}})
	client := newClient(t, c, "n1")
	s := connectView(t, others[0], client, "n1", nil)
	waitView(t, l, others[0], client, "n1")

	mustApply(t, l, &PutWorkload{Workload: testWorkload("web", 2, "nginx")}, &PutService{Service: &cluster.Service{Namespace: "default", Name: "web", UID: "s1"}})
	mustApply(t, l, statusOf("n2", true, "up", "b", "c"), statusOf("n1", true, "up", "a"))
	mustApply(t, l, &TerminatePods{Pods: []cluster.PodRef{{Namespace: "default", Name: "c", UID: "uid-c"}}})
	stopped := statusOf("n2", false, "stopped", "c")
	stopped.Updates[0].Status.Stopped = true
	mustApply(t, l, stopped)
	waitView(t, l, others[0], client, "n1")
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
	mustApply(t, l, &PutNode{Node: testNode("n3", 1000, 1<<30)})
	var sent atomic.Int64
	s = connectView(t, others[1], client, "n1", &sent)
	waitView(t, l, others[1], client, "n1")
	if n := sent.Load(); n > 2000 {
		t.Fatalf("resuming sent %d bytes: want a change, not the whole view", n)
	}
	// New settings are not a change of keys: the whole view again.
	mustApply(t, l, &SetConfig{Config: cluster.Config{ClusterCIDR: "10.64.0.0/16", ServiceCIDR: "172.31.0.0/16"}})
	mustApply(t, l, &PutPods{Pods: []*cluster.Pod{placedPod("d", "n1")}})
	waitView(t, l, others[1], client, "n1")
	if _, ok := client.State().Pod("default", "d"); !ok {
		t.Fatal("the pod put after new settings is missing")
	}
	s.stop()

	// The log's entries cannot be applied to a view: the follower says
	// so and its state is left as it was (and not halted).
	before := client.State().Index()
	mustApply(t, l, &PutNode{Node: testNode("n4", 1000, 1<<30)})
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
		pods = append(pods, placedPod(name, "n2"))
		names = append(names, name)
	}
	mustApply(t, l, &PutNode{Node: testNode("n1", 4000, 8<<30)}, &PutNode{Node: testNode("n2", 4000, 8<<30)})
	mustApply(t, l, &PutPods{Pods: pods})
	mustApply(t, l, statusOf("n2", true, "started", names...))
	view, full := newClient(t, c, "n1"), newClient(t, c, "n1-full")
	var viewSent, fullSent atomic.Int64
	connectView(t, l, view, "n1", &viewSent)
	sf := connect(t, l, full)
	waitView(t, l, l, view, "n1")
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
		mustApply(t, l, statusOf("n2", true, fmt.Sprintf("probe %d", i), names...))
	}
	mustApply(t, l, statusOf("n2", false, "probe failed", names[0]))
	waitView(t, l, l, view, "n1")
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
