// Package consensustest gives tests outside consensus in-process Raft
// stores on the in-memory transport, closed when the test ends.
package consensustest

import (
	"context"
	"testing"
	"time"

	"shoal/consensus"
)

// Cluster opens n connected members (see consensus.OpenInmem); member 0
// leads. fn, if given, adjusts each member's Config.
func Cluster(tb testing.TB, n int, fn func(i int, cfg *consensus.Config)) []*consensus.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stores, err := consensus.OpenInmem(ctx, n, fn)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range stores {
		tb.Cleanup(func() { _ = s.Close() })
	}
	return stores
}

// Store opens a single member that leads.
func Store(tb testing.TB) *consensus.Store {
	tb.Helper()
	return Cluster(tb, 1, nil)[0]
}
