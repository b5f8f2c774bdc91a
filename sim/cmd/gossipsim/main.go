// Command gossipsim runs N members of Shoal's real gossip layer in this
// process, on loopback, for each N asked, and prints a table: time to
// form, time until a crashed member is seen dead by 50%, 99% and all of
// the others, a metadata change's spread, and an idle member's CPU and
// traffic. `make sim` runs it for N = 100 and 1,000 (SIM_N picks others):
//
//	go run ./sim/cmd/gossipsim -n 100,1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"shoal/gossip"
	"shoal/sim/gossipsim"
	"shoal/sim/spread"
)

func main() { os.Exit(run()) }

// run is main with an exit code, so deferred calls (the profile) finish.
func run() int {
	ns := flag.String("n", "100,1000", "comma-separated member counts, one run each")
	profile := flag.String("profile", gossip.ProfileLAN, "gossip profile: lan (what agents run) or test")
	network := flag.String("net", gossipsim.NetUDP, "network: udp (memberlist's sockets on loopback, as agents run) or mem (in-process, for N past what the cores carry over sockets)")
	joinRate := flag.Float64("join-rate", 0, "members joining a second (0: as fast as they start; pace a large N, e.g. 10 at 1000, so the join storm does not starve the machine)")
	dilate := flag.Float64("dilate", 1, "run the members' protocol this many times slower, and report in their time (a large N on few cores: 4 lets 2 cores stand in for 8)")
	settle := flag.Duration("settle", 10*time.Second, "wait after forming before the idle measurement (members' time, like every figure: -dilate stretches it on the clock)")
	idle := flag.Duration("idle", 20*time.Second, "length of the idle measurement")
	timeout := flag.Duration("phase-timeout", 5*time.Minute, "bound on forming, detection and the meta change, each")
	verbose := flag.Bool("v", false, "print the members' warnings (probe failures, suspicions)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	sizes, err := spread.ParseSizes(*ns, 3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gossipsim: -n", err)
		return 2
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gossipsim: -cpuprofile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var results []gossipsim.Result
	for _, n := range sizes {
		r, err := gossipsim.Run(ctx, gossipsim.Options{
			N: n, Profile: *profile, Network: *network, JoinRate: *joinRate, Dilation: *dilate, Settle: *settle, Idle: *idle, PhaseTimeout: *timeout,
			Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
			Progress: os.Stdout,
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "gossipsim: N=%d: %v\n", n, err)
			break
		}
		results = append(results, r)
	}
	fmt.Println()
	if err := gossipsim.WriteTable(os.Stdout, results); err != nil {
		fmt.Fprintln(os.Stderr, "gossipsim:", err)
		return 1
	}
	if len(results) < len(sizes) {
		return 1
	}
	return 0
}
