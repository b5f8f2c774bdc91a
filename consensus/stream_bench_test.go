package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	var want atomic.Pointer[[]byte]
	ready, got := make(chan struct{}, followers), make(chan struct{}, followers)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, followers)
	for range followers {
		w := &tailWriter{keep: 4 << 10}
		var seen *[]byte
		hello := false
		flush := func() error {
			if !hello {
				hello = true
				ready <- struct{}{}
				return nil
			}
			if d := want.Load(); d != nil && d != seen && bytes.Contains(w.buf[max(0, len(w.buf)-len(*d)-16):], *d) {
				seen = d
				got <- struct{}{}
			}
			return nil
		}
		go func() { done <- m.ServeStream(ctx, base, w, flush) }()
	}
	for range followers {
		<-ready
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d := data[i%names]
		want.Store(&d)
		if r := m.fsm.Apply(&raft.Log{Index: base + 1 + uint64(i), Data: d}); r.(Result).Err != nil {
			b.Fatal(r.(Result).Err)
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
