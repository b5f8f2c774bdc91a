package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"shoal/cluster"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkServeStreamFanout is a member's cost of one applied entry sent
// to 1 and to 100 followers of the state stream: each op applies one
// entry (a node's record, as a status update under churn) and waits until
// every follower's stream has written and flushed it. The followers'
// writers only keep the tail of what they were written, to tell when the
// entry arrived (its Data, then its index, end the frame), so the figures
// are the member's side: the FSM's apply once, then the stream's framing
// and writes once per follower.
func BenchmarkServeStreamFanout(b *testing.B) {
	for _, followers := range []int{1, 100} {
		b.Run(fmt.Sprintf("followers=%d", followers), func(b *testing.B) {
			benchFanout(b, followers)
		})
	}
}

func benchFanout(b *testing.B, followers int) {
	m := newTestCluster(b, 1, nil).leader(b)
	// The entries go to the FSM directly, past raft's own indexes: raft
	// commits nothing meanwhile, so only the stream's work is measured.
	base := m.State().Index() + 1000
	if r := m.fsm.Apply(&raft.Log{Index: base, Data: mustEncode(b, &PutNode{Node: testNode("n0", 1000, 1<<30)})[0]}); r.(Result).Err != nil {
		b.Fatal(r.(Result).Err)
	}
	const names = 200 // cycled (each takes a pod CIDR): a follower only has to tell an entry from the one before
	data := make([][]byte, names)
	for i := range data {
		data[i] = mustEncode(b, &PutNode{Node: testNode(fmt.Sprintf("node-%04d", i), 1000+int64(i), 1<<30)})[0]
	}
	fanout(b, m, followers, func(ctx context.Context, _ int, w io.Writer, flush func() error) error {
		return m.ServeStream(ctx, base, w, flush)
	}, func(i int) ([]byte, []byte) {
		d := data[i%names]
		return d, d
	}, base)
}

// fanout starts followers streams on m with serve (follower f of them),
// then times ops: op i applies the entry entry(i) returns at base+1+i and
// waits until every follower's stream has written and flushed the bytes
// it names (want, which end or lie in the frame that carries it).
func fanout(b *testing.B, m *Store, followers int, serve func(ctx context.Context, f int, w io.Writer, flush func() error) error,
	entry func(i int) (data, want []byte), base uint64) {
	var want atomic.Pointer[[]byte]
	ready, got := make(chan struct{}, followers), make(chan struct{}, followers)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, followers)
	for f := range followers {
		w := &tailWriter{keep: 4 << 10}
		var seen *[]byte
		hello := false
		flush := func() error {
			if !hello {
				hello = true
				ready <- struct{}{}
				return nil
			}
			if d := want.Load(); d != nil && d != seen && bytes.Contains(w.buf, *d) {
				seen = d
				w.buf = w.buf[:0]
				got <- struct{}{}
			}
			return nil
		}
		go func() { done <- serve(ctx, f, w, flush) }()
	}
	for range followers {
		<-ready
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		data, w := entry(i)
		want.Store(&w)
		switch r := m.fsm.Apply(&raft.Log{Index: base + 1 + uint64(i), Data: data}).(type) {
		case Result:
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		case []Result:
			if r[0].Err != nil {
				b.Fatal(r[0].Err)
			}
		}
		for range followers {
			<-got
		}
	}
	b.StopTimer()
	cancel()
	for range followers {
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Fatalf("stream ended: %v", err)
		}
	}
}

// tailWriter keeps the last keep bytes written to it (at least).
type tailWriter struct {
	keep int
	buf  []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	if len(w.buf)+len(p) > 2*w.keep {
		w.buf = append(w.buf[:0], w.buf[max(0, len(w.buf)-w.keep):]...)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// BenchmarkServeViewFanout compares, under pod status churn, a member's
// cost of one applied entry sent to followers of the log's stream and to
// followers of their node's view (each of another node): each op applies
// one node's status for 3 of its pods (a new IP, which every view's
// summary carries) and waits until every follower's stream has written
// and flushed it. For views the member makes the change's delta once
// (the change log read, the pods looked up and summarized, the delta
// encoded) and writes it to every follower but the one of the node whose
// pods changed, which gets its own; the log's stream writes the entry's
// bytes, encoded once.
func BenchmarkServeViewFanout(b *testing.B) {
	for _, view := range []bool{false, true} {
		for _, followers := range []int{1, 100} {
			name := map[bool]string{false: "log", true: "view"}[view]
			b.Run(fmt.Sprintf("%s/followers=%d", name, followers), func(b *testing.B) {
				benchStatusFanout(b, followers, view)
			})
		}
	}
}

func benchStatusFanout(b *testing.B, followers int, view bool) {
	m := newTestCluster(b, 1, nil).leader(b)
	const nodes, perNode = 200, 3
	base := m.State().Index() + 1000
	var setup []Command
	var pods []*cluster.Pod
	for n := range nodes {
		setup = append(setup, &PutNode{Node: testNode(fmt.Sprintf("node-%04d", n), 64000, 256<<30)})
		for i := range perNode {
			p := testPod(fmt.Sprintf("p-%04d-%d", n, i), 10, 1<<20, 0)
			p.NodeName = fmt.Sprintf("node-%04d", n)
			pods = append(pods, p)
		}
	}
	setup = append(setup, &PutPods{Pods: pods})
	if r := m.fsm.Apply(&raft.Log{Index: base, Data: encodeBatch(mustEncode(b, setup...))}); r.([]Result)[0].Err != nil {
		b.Fatal(r.([]Result)[0].Err)
	}
	status := func(i int) ([]byte, []byte) {
		n := i % nodes
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		c := &PodStatus{Node: fmt.Sprintf("node-%04d", n)}
		for k := range perNode {
			name := fmt.Sprintf("p-%04d-%d", n, k)
			c.Updates = append(c.Updates, cluster.PodStatusUpdate{Ref: cluster.PodRef{Namespace: "default", Name: name, UID: "uid-" + name},
				Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, PodIP: ip, Message: "probe " + strconv.Itoa(i)}})
		}
		return mustEncode(b, c)[0], []byte(ip)
	}
	fanout(b, m, followers, func(ctx context.Context, f int, w io.Writer, flush func() error) error {
		if view {
			return m.ServeView(ctx, base, fmt.Sprintf("node-%04d", f%nodes), w, flush)
		}
		return m.ServeStream(ctx, base, w, flush)
	}, status, base)
}
