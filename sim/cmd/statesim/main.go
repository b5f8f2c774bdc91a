// Command statesim measures Shoal's state stream for each N asked: a Raft
// cluster of 3 voters and 2 replicas in this process on loopback, and N
// followers outside Raft in child processes (this binary with -role
// followers), each on a stream from a member that is not the leader. It
// prints the members' CPU and traffic idle and under churn, Raft entries
// a second, the time until 50%, 99% and all followers see a change, a
// leader failover, and the snapshot of a large state. `make sim` runs it:
//
//	go run ./sim/cmd/statesim -n 100,1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"shoal/sim/spread"
	"shoal/sim/statesim"
)

func main() { os.Exit(run()) }

func run() int {
	role := flag.String("role", "run", "run (the members and the measurements) or followers (a child process)")
	ns := flag.String("n", "100", "run: comma-separated follower counts, one run each; followers: how many")
	full := flag.Int("full", 100, "followers that are full consensus.Stores applying the stream (the rest decode it and keep the index)")
	perProc := flag.Int("per-proc", 1000, "most followers in one child process")
	pods := flag.Int("pods", 0, "pods in the followed state (0: 3,000, or 3 a node if more; nodes: one record a follower)")
	snapPods := flag.Int("snap-pods", 100000, "pods of the large state whose snapshot is timed (0: skip)")
	settle := flag.Duration("settle", 3*time.Second, "wait before each measured window")
	idle := flag.Duration("idle", 10*time.Second, "length of the idle window")
	churn := flag.Duration("churn", 10*time.Second, "length of the churn window")
	churnRate := flag.Int("churn-rate", 100, "writer's commands a second under churn (pod status batches, every tenth a workload)")
	markers := flag.Int("markers", 20, "changes timed until the followers see them")
	view := flag.Bool("view", false, "followers follow their node's view (other nodes' pods summarized, deltas) rather than the whole state")
	verbose := flag.Bool("v", false, "log the members' and followers' warnings")
	first := flag.Int("first", 0, "followers: number of the first follower")
	since := flag.Uint64("since", 0, "followers: index the light followers start from")
	connect := flag.String("connect", "", "followers: comma-separated stream addresses of the members")
	flag.Parse()
	// Raft logs errors for every dial to the killed leader: not findings.
	level := slog.LevelError + 4
	if *verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *role == "followers" {
		n, err := strconv.Atoi(*ns)
		if err != nil {
			fmt.Fprintln(os.Stderr, "statesim followers: -n:", err)
			return 2
		}
		err = statesim.RunGroup(ctx, statesim.GroupOptions{
			First: *first, N: n, Full: *full, Addrs: strings.Split(*connect, ","), Since: *since, View: *view, Logger: log,
		}, os.Stdin, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "statesim followers:", err)
			return 1
		}
		return 0
	}
	sizes, err := spread.ParseSizes(*ns, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "statesim: -n", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "statesim: find this binary to run the followers:", err)
		return 1
	}
	var results []statesim.Result
	for i, n := range sizes {
		sp := 0
		if i == len(sizes)-1 {
			sp = *snapPods // the large state is the same for every N: time it once
		}
		r, err := statesim.Run(ctx, statesim.Options{
			N: n, Full: *full, PerProc: *perProc, Pods: *pods, SnapPods: sp,
			Settle: *settle, Idle: *idle, Churn: *churn, ChurnRate: *churnRate, Markers: *markers,
			View: *view, Exec: exe, Logger: log, Progress: os.Stdout,
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "statesim: N=%d: %v\n", n, err)
			break
		}
		results = append(results, r)
	}
	fmt.Println()
	fmt.Println("State stream: 3 voters + 2 replicas in one process (TCP loopback, plain TCP, bolt log), followers in child processes;")
	fmt.Println("the first -full followers are consensus.Stores applying the stream, the rest decode every frame and keep only the index.")
	fmt.Println("Members' CPU is their whole process (all members, stream servers, the writer). Every figure is measured on this machine.")
	if err := statesim.WriteTable(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, "statesim:", err)
		return 1
	}
	if len(results) < len(sizes) {
		return 1
	}
	return 0
}
