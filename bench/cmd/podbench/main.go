// Command podbench measures `shoal apply` of N pods against `ctr run -d` of
// the same N containers on the same containerd (the floor), for several N
// and several runs, and the agent's idle RSS with the last N pods.
// scripts/bench-pods.sh starts the registry, containerd and agent it needs
// and runs it:
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

	"shoal/agent/apiclient"
	"shoal/bench"
	"shoal/cluster"
)

// aim is issue 15's: apply → all Running within 1.2× of the floor.
const aim = 1.2

func main() {
	var e bench.Env
	flag.StringVar(&e.Shoal, "shoal", "bin/shoal", "shoal binary")
	flag.StringVar(&e.Addr, "addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(cluster.DefaultAPIPort)), "agent API address")
	flag.StringVar(&e.Containerd, "containerd", "", "containerd socket the agent uses")
	flag.StringVar(&e.AgentNamespace, "agent-namespace", "shoal", "the agent's containerd namespace")
	flag.StringVar(&e.CtrNamespace, "ctr-namespace", "shoal-bench-ctr", "containerd namespace for the ctr baseline")
	flag.StringVar(&e.Image, "image", "", "image reference (a registry on loopback)")
	creds := flag.String("credentials", os.Getenv("SHOAL_CONFIG"), "the agent's admin credentials (admin.conf)")
	pid := flag.Int("agent-pid", 0, "the agent's PID, for its RSS")
	counts := flag.String("n", "20", "pod counts, comma-separated (20,50,100)")
	runs := flag.Int("runs", 1, "runs of every pod count")
	settle := flag.Duration("settle", 10*time.Second, "idle time before reading the agent's RSS")
	flag.Parse()
	if e.Containerd == "" || e.Image == "" || *pid == 0 || *creds == "" {
		fmt.Fprintln(os.Stderr, "podbench: -containerd, -image, -credentials and -agent-pid are required (scripts/bench-pods.sh sets them)")
		os.Exit(2)
	}
	ns, err := bench.ParseCounts(*counts)
	if err == nil && *runs < 1 {
		err = fmt.Errorf("-runs %d: expected at least 1", *runs)
	}
	if err == nil {
		e.API, err = client(e.Addr, *creds)
	}
	if err == nil {
		err = run(e, *pid, ns, *runs, *settle)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "podbench:", err)
		os.Exit(1)
	}
}

func client(addr, path string) (*apiclient.Client, error) {
	c, err := apiclient.LoadCredentials(path)
	if err != nil {
		return nil, err
	}
	tlsConf, err := c.TLS()
	if err != nil {
		return nil, err
	}
	return apiclient.NewClient(addr, c.Token, tlsConf), nil
}

func run(e bench.Env, pid int, counts []int, runs int, settle time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*30*time.Minute)
	defer cancel()
	fmt.Printf("pulling %s into both containerd namespaces\n", e.Image)
	if err := e.Prepare(ctx); err != nil {
		return err
	}
	var results []bench.Result
	for i := range runs {
		for j, n := range counts {
			last := i == runs-1 && j == len(counts)-1
			r, err := once(ctx, e, n, i+1, last, func() error { return rss(pid, n, settle) })
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}
	fmt.Printf("\npod start: shoal apply until all Running vs ctr run -d one after another (the floor), same containerd; median (min–max) of %d runs, ratio taken within each run\n", runs)
	bench.WriteTable(os.Stdout, bench.Summarize(results), aim)
	return nil
}

// once measures n pods: the floor first, removed again so that the two do
// not share the machine, then Shoal. After the last one it reads the
// agent's RSS before removing the pods.
func once(ctx context.Context, e bench.Env, n, run int, last bool, atRest func() error) (bench.Result, error) {
	ctrTime, err := e.CtrRun(ctx, n)
	e.CtrCleanup(ctx, n)
	if err != nil {
		return bench.Result{}, err
	}
	applyTime, err := e.ShoalApply(ctx, n)
	if err != nil {
		return bench.Result{}, err
	}
	r := bench.Result{Pods: n, CtrRun: ctrTime, ShoalApply: applyTime}
	fmt.Printf("run %d, %3d pods: ctr %.2fs, shoal %.2fs, ratio %.2fx\n", run, n, ctrTime.Seconds(), applyTime.Seconds(), r.Ratio())
	if last {
		if err := atRest(); err != nil {
			return r, err
		}
	}
	return r, e.ShoalCleanup(ctx, n)
}

func rss(pid, n int, settle time.Duration) error {
	time.Sleep(settle) // idle on purpose: the figure is the agent at rest
	b, err := bench.RSS(pid)
	if err != nil {
		return err
	}
	fmt.Printf("agent RSS, idle %v with %d pods: %.1f MiB\n", settle, n, float64(b)/(1<<20))
	return nil
}
