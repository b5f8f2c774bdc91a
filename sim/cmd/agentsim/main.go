// Command agentsim runs N real agents in this process for each N asked
// (sim/agentsim: Raft, gossip, the state stream, the API, DNS and the
// node reconciler, pods held in memory) and prints how long the cluster
// took to form, the idle CPU of its leader, other Raft members and
// clients, a change's spread, N×3 pods started, a lost node and a lost
// leader. `make sim` runs it:
//
//	go run ./sim/cmd/agentsim -n 50,100
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"shoal/sim/agentsim"
	"shoal/sim/spread"
)

func main() { os.Exit(run()) }

func run() int {
	ns := flag.String("n", "100", "comma-separated agent counts, one run each")
	podsPerNode := flag.Int("pods-per-node", 3, "the Deployment's pods per agent")
	join := flag.Int("join-parallel", 8, "agents joining at once")
	settle := flag.Duration("settle", 10*time.Second, "wait before the idle window")
	idle := flag.Duration("idle", 30*time.Second, "length of the idle window")
	markers := flag.Int("markers", 5, "changes timed until every agent sees them")
	profile := flag.String("gossip-profile", "", "the agents' --gossip-profile (empty: lan)")
	downAfter := flag.Duration("node-down-after", 0, "the agents' --node-down-after (0: the default)")
	dir := flag.String("dir", "", "where the agents' data dirs and log go (default: a temporary directory, removed)")
	cpuProfile := flag.String("cpuprofile", "", "write the idle window's CPU profile here (-n with one count); samples are labelled agent=<name>")
	verbose := flag.Bool("v", false, "log the agents' info lines too (default: warnings)")
	flag.Parse()
	sizes, err := spread.ParseSizes(*ns, 1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentsim: -n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var results []agentsim.Result
	code := 0
	for _, n := range sizes {
		opt := agentsim.Options{
			N: n, PodsPerNode: *podsPerNode, JoinParallel: *join, Settle: *settle, Idle: *idle,
			Markers: *markers, GossipProfile: *profile, NodeDownAfter: *downAfter,
			LogLevel: level, Progress: os.Stderr, CPUProfile: *cpuProfile,
		}
		if *dir != "" {
			opt.Dir = fmt.Sprintf("%s/n%d", *dir, n)
		}
		r, err := agentsim.Run(ctx, opt)
		if err != nil {
			// The runs before it still print.
			fmt.Fprintln(os.Stderr, err)
			code = 1
			break
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return code
	}
	fmt.Print("\nReal agents in one process (Raft, gossip, the state stream, API, DNS, node reconciler; pods held in memory); CPU in % of one core\n\n")
	if err := agentsim.WriteTable(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}
