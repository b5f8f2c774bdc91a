package metrics

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Fetch returns one node's report (the local recorder's, or another
// agent's through its API).
type Fetch func(ctx context.Context, node string) (Report, error)

// gatherParallel bounds how many nodes are asked at once.
const gatherParallel = 16

// Gather asks every node for its report, at most 16 at a time, and
// returns the reports in the order of nodes, and an error per node that
// did not answer (nil when all did). What the cluster-wide `top`, and
// later the autoscaler, read.
func Gather(ctx context.Context, nodes []string, fetch Fetch) ([]Report, error) {
	reports := make([]*Report, len(nodes))
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, gatherParallel)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("node %s: %w", n, ctx.Err())
				return
			}
			defer func() { <-sem }()
			r, err := fetch(ctx, n)
			if err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n, err)
				return
			}
			r.Node = n
			reports[i] = &r
		}()
	}
	wg.Wait()
	var out []Report
	for _, r := range reports {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, joinErrors(slices.DeleteFunc(errs, func(e error) bool { return e == nil }))
}

// GatherError lists the nodes that did not answer.
type GatherError struct{ Errs []error }

func (e *GatherError) Error() string {
	s := fmt.Sprintf("%d node(s) did not answer", len(e.Errs))
	for _, err := range e.Errs {
		s += "; " + err.Error()
	}
	return s
}

// Unwrap lets errors.Is see each node's error.
func (e *GatherError) Unwrap() []error { return e.Errs }

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &GatherError{Errs: errs}
}
