// Command podbench measures `shoal apply` of N pods against `ctr run -d` of
// the same N containers on the same containerd, and the agent's idle RSS
// with those pods. scripts/bench-pods.sh starts the registry, containerd
// and agent it needs and runs it:
//
//	sudo make bench-pods
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"shoal/bench"
	"shoal/cluster"
)

func main() {
	var e bench.Env
	flag.StringVar(&e.Shoal, "shoal", "bin/shoal", "shoal binary")
	flag.StringVar(&e.Addr, "addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(cluster.DefaultAPIPort)), "agent API address")
	flag.StringVar(&e.Containerd, "containerd", "", "containerd socket the agent uses")
	flag.StringVar(&e.AgentNamespace, "agent-namespace", "shoal", "the agent's containerd namespace")
	flag.StringVar(&e.CtrNamespace, "ctr-namespace", "shoal-bench-ctr", "containerd namespace for the ctr baseline")
	flag.StringVar(&e.Image, "image", "", "image reference (a registry on loopback)")
	pid := flag.Int("agent-pid", 0, "the agent's PID, for its RSS")
	n := flag.Int("n", 20, "number of pods")
	settle := flag.Duration("settle", 10*time.Second, "idle time before reading the agent's RSS")
	flag.Parse()
	if e.Containerd == "" || e.Image == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "podbench: -containerd, -image and -agent-pid are required (scripts/bench-pods.sh sets them)")
		os.Exit(2)
	}
	if err := run(e, *pid, *n, *settle); err != nil {
		fmt.Fprintln(os.Stderr, "podbench:", err)
		os.Exit(1)
	}
}

func run(e bench.Env, pid, n int, settle time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fmt.Printf("pulling %s into both containerd namespaces\n", e.Image)
	if err := e.Prepare(ctx); err != nil {
		return err
	}

	// ctr first, then removed, so the two runs do not share the machine.
	fmt.Printf("ctr run -d of %d containers ...\n", n)
	ctrTime, err := e.CtrRun(ctx, n)
	e.CtrCleanup(ctx, n)
	if err != nil {
		return err
	}

	fmt.Printf("shoal apply of %d pods until all Running ...\n", n)
	applyTime, err := e.ShoalApply(ctx, n)
	if err != nil {
		return err
	}
	r := bench.Result{Pods: n, CtrRun: ctrTime, ShoalApply: applyTime}

	fmt.Printf("agent idle for %v with %d pods ...\n", settle, n)
	time.Sleep(settle) // idle on purpose: the figure is the agent at rest
	rss, err := bench.RSS(pid)
	if err != nil {
		return err
	}

	fmt.Println()
	fmt.Printf("pods                               %d\n", r.Pods)
	fmt.Printf("ctr run -d, one after another      %.2fs\n", r.CtrRun.Seconds())
	fmt.Printf("shoal apply until all Running      %.2fs\n", r.ShoalApply.Seconds())
	fmt.Printf("ratio shoal / ctr                  %.2fx (aim <= 1.5x)\n", r.Ratio())
	fmt.Printf("agent RSS, idle with %d pods       %.1f MiB (aim < 40 MiB)\n", n, float64(rss)/(1<<20))

	fmt.Println("\nremoving the bench pods ...")
	return e.ShoalCleanup(ctx, n)
}
