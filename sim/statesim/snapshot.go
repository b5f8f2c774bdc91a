package statesim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"shoal/consensus"
)

// snapshotBytes is the size of member id's newest Raft snapshot under dir
// (0 if none).
func snapshotBytes(dir, id string) int64 {
	files, _ := filepath.Glob(filepath.Join(dir, id, "raft", "snapshots", "*", "state.bin"))
	var newest time.Time
	var n int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.ModTime().After(newest) {
			newest, n = fi.ModTime(), fi.Size()
		}
	}
	return n
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return len(b), nil
}

// bigSnapshot builds a state of pods pods (200 a node) on a single member
// and times its snapshot: Raft's, and the stream's to a discarding writer
// and to a follower Store.
func bigSnapshot(ctx context.Context, dir string, pods int, log *slog.Logger) (SnapResult, error) {
	r := SnapResult{Pods: pods, Nodes: max(pods/200, 1)}
	// A one-entry feed: a follower from index 0 gets a snapshot.
	m, err := openMember("big", dir, true, log, func(cfg *consensus.Config) { cfg.FeedEntries = 1 })
	if err != nil {
		return r, fmt.Errorf("statesim: big state: %w", err)
	}
	defer m.kill()
	if err := waitUntil(ctx, "the big state's member leads", m.store.IsLeader); err != nil {
		return r, fmt.Errorf("statesim: %w", err)
	}
	at := time.Now()
	if err := seed(ctx, m.store, r.Nodes, pods); err != nil {
		return r, fmt.Errorf("statesim: build the big state: %w", err)
	}
	r.Build = time.Since(at)
	at = time.Now()
	if err := m.store.Snapshot(); err != nil {
		return r, fmt.Errorf("statesim: big state: %w", err)
	}
	r.Raft = time.Since(at)

	// Encode: ServeStream flushes first once the hello and snapshot are
	// written.
	var w countWriter
	ectx, cancel := context.WithCancel(ctx)
	at = time.Now()
	flushed := false
	err = m.store.ServeStream(ectx, 0, &w, func() error {
		if !flushed {
			flushed = true
			r.Encode, r.Bytes = time.Since(at), w.n.Load()
			cancel()
		}
		return nil
	})
	cancel()
	if !flushed {
		return r, fmt.Errorf("statesim: big state: stream the snapshot: %w", err)
	}

	want := m.store.State().Index()
	full := func(ctx context.Context, w io.Writer) error { return m.store.ServeStream(ctx, 0, w, nil) }
	if r.Stream, _, r.Heap, err = followBig(ctx, full, want, pods, log); err != nil {
		return r, err
	}
	// A node's view: its own 200 pods whole, the rest summarized.
	view := func(ctx context.Context, w io.Writer) error { return m.store.ServeView(ctx, 0, nodeName(0), w, nil) }
	if r.ViewStream, r.ViewBytes, r.ViewHeap, err = followBig(ctx, view, want, pods, log); err != nil {
		return r, err
	}
	return r, nil
}

// followBig streams the big state to a new follower Store with serve
// until the follower reaches index want, and returns how long that took,
// the bytes sent, and the heap the follower's copy holds (live heap after
// a collection, with the follower against without it).
func followBig(ctx context.Context, serve func(context.Context, io.Writer) error, want uint64, pods int, log *slog.Logger) (took time.Duration, sent int64, heap uint64, err error) {
	before := liveHeap()
	f, err := newFullStore(-1, log)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("statesim: big state: %w", err)
	}
	defer f.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var w countWriter
	at := time.Now()
	wg.Go(func() { _ = pw.CloseWithError(serve(sctx, io.MultiWriter(pw, &w))) })
	wg.Go(func() { _ = pr.CloseWithError(f.Follow(sctx, pr)) })
	if err := waitUntil(sctx, "the follower restores the big state", func() bool { return f.State().Index() >= want }); err != nil {
		return 0, 0, 0, fmt.Errorf("statesim: %w", err)
	}
	took = time.Since(at)
	if n := f.State().PodCount(); n != pods {
		return 0, 0, 0, fmt.Errorf("statesim: the follower restored %d pods of %d", n, pods)
	}
	cancel()
	wg.Wait()
	if after := liveHeap(); after > before {
		heap = after - before
	}
	runtime.KeepAlive(f)
	return took, w.n.Load(), heap, nil
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
