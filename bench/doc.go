// Package bench holds Shoal's benchmark scenarios that need more than `go
// test -bench`: real processes on a real containerd. Pure benchmarks (the
// scheduler placing 100,000 pods, the FSM applying batches) live beside
// their packages as Benchmark functions and run with `make bench-go`;
// `make bench` (scripts/bench.sh) prints the figures below beside the
// others.
//
// The pod scenario (pods.go, run by scripts/bench-pods.sh through
// bench/cmd/podbench) answers two questions:
//
//   - how much slower is `shoal apply` of N single-container pods, until
//     all run, than `ctr run -d` of the same N containers one after
//     another on the same containerd, for N = 20, 50 and 100, the ratio
//     taken within each run (table.go; aim: at most 1.2×, with the time
//     per pod flat as N grows);
//   - how much memory does an agent hold when idle with N pods (aim: under
//     40 MiB RSS).
package bench
