package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"shoal/chaos"
)

// TestChaos is the randomized fault suite (Jepsen's method, package
// chaos): one cluster of 5 agents, then rounds of seeded fault schedules
// while concurrent clients write and read; after each round the history
// must linearize (porcupine), no acknowledged write may be lost, no
// StatefulSet ordinal may have run twice at once (heartbeat files), and
// the workloads must be back at their count within 30 s of the last
// fault's heal; after teardown nothing may be left (containers, network
// namespaces, routes, iptables rules).
//
// The short form (CI) runs 5 rounds of 2 faults from a seed drawn from
// the clock; CHAOS_ROUNDS=N runs the long form (3 faults a round, every
// kind including clock jumps), CHAOS_SEED the first round's seed,
// CHAOS_KINDS and CHAOS_FAULTS override the kinds and faults per round,
// CHAOS_NODES the agents (5: all Raft members; 8 or more puts clients
// that hold their nodes' views in the cluster), CHAOS_REPORT names a
// file for the report. `make chaos` runs the long
// form. A failed round prints its seed and the command that replays it.
func TestChaos(t *testing.T) {
	cfg, rounds, seed := chaosSettings(t)
	start := time.Now()
	report := &chaos.Report{BaseSeed: seed, Kinds: cfg.Kinds,
		Replay: fmt.Sprintf("CHAOS_SEED=%%d CHAOS_ROUNDS=1 CHAOS_FAULTS=%d CHAOS_KINDS=%s CHAOS_NODES=%d flock /tmp/shoal-heavy.lock go test ./integration -run 'TestChaos$' -count=1 -v",
			cfg.Faults, chaos.JoinKinds(cfg.Kinds), cfg.Nodes)}
	t.Logf("fault suite: %d rounds from seed %d, %d faults each, kinds %s, %d agents", rounds, seed, cfg.Faults, chaos.JoinKinds(cfg.Kinds), cfg.Nodes)

	// Written last (cleanups run last-in first-out): after the leak
	// check, which runs after the cluster is gone.
	t.Cleanup(func() {
		report.Took = time.Since(start)
		writeChaosReport(t, report)
	})
	leaks := &leakWatch{}
	dirs := ChaosDataDirs(t, cfg.Nodes, 256<<20, func(dirs []string) {
		report.Final = append(report.Final, leaks.check(t, dirs))
	})
	hb := chaosHeartbeatDir(t)
	c := StartClusterWith(t, ClusterOptions{N: cfg.Nodes, Image: true, Configure: func(i int, o *Options) { o.DataDir = dirs[i] }})
	leaks.c = c
	faults := NewFaults(t, c)
	w := newChaosWorkloads(t, c, hb)

	for r := range rounds {
		s, err := chaos.Generate(seed+int64(r), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rd := runRound(t, c, faults, w, s)
		report.Rounds = append(report.Rounds, rd)
		for _, f := range rd.Failed() {
			t.Errorf("round %d (seed %d): %s: %s\nreplay: %s", r+1, s.Seed, f.Name, f.Detail, fmt.Sprintf(report.Replay, s.Seed))
		}
	}
}

// chaosSettings reads the environment: the short form by default, the
// long form with CHAOS_ROUNDS.
func chaosSettings(t *testing.T) (chaos.Config, int, int64) {
	t.Helper()
	cfg := chaos.Config{Nodes: 5, Faults: 2, MinHold: 3 * time.Second, MaxHold: 8 * time.Second, Gap: 2 * time.Second}
	rounds := 5
	// The wall clock is the machine's: CI runs alone, but a developer's
	// machine is shared, so clock jumps run only in the long form.
	cfg.Kinds = chaos.AllKinds[:0:0]
	for _, k := range chaos.AllKinds {
		if k != chaos.ClockJump {
			cfg.Kinds = append(cfg.Kinds, k)
		}
	}
	if v := os.Getenv("CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHAOS_ROUNDS=%q: expected a positive number of rounds", v)
		}
		rounds, cfg.Faults, cfg.Kinds = n, 3, chaos.AllKinds
	}
	if v := os.Getenv("CHAOS_FAULTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHAOS_FAULTS=%q: expected a positive number of faults per round", v)
		}
		cfg.Faults = n
	}
	if v := os.Getenv("CHAOS_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > 16 {
			t.Fatalf("CHAOS_NODES=%q: expected 3 to 16 agents", v)
		}
		cfg.Nodes = n
	}
	if v := os.Getenv("CHAOS_KINDS"); v != "" {
		k, err := chaos.ParseKinds(v)
		if err != nil || len(k) == 0 {
			t.Fatalf("CHAOS_KINDS=%q: %v", v, err)
		}
		cfg.Kinds = k
	}
	seed := time.Now().UnixNano() % 1_000_000
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: expected an integer", v)
		}
		seed = s
	}
	return cfg, rounds, seed
}

// runRound runs one schedule: clients start, each fault is planned
// against the current leader, injected, held and healed; then the
// clients stop, the final values are read and every invariant checked.
func runRound(t *testing.T, c *Cluster, faults *Faults, w *chaosWorkloads, s chaos.Schedule) chaos.Round {
	t.Helper()
	began := time.Now()
	rd := chaos.Round{Seed: s.Seed}
	rec := chaos.NewRecorder(began)
	keys := w.startRound(t, rec, s.Seed)
	ctx, cancel := context.WithCancel(context.Background())
	done := w.startClients(ctx, rec, keys, s.Seed)
	time.Sleep(2 * time.Second)

	var healed time.Time
	for _, f := range s.Faults {
		leader, _ := c.Leader()
		a, err := chaos.Plan(f, len(c.Agents), leader)
		if err != nil {
			cancel()
			<-done
			t.Fatal(err)
		}
		t.Logf("seed %d: %s", s.Seed, a)
		rd.Actions = append(rd.Actions, a)
		faults.Inject(a)
		time.Sleep(a.Hold)
		faults.Heal(a)
		healed = time.Now()
		time.Sleep(s.Gap)
	}
	faults.HealAll()
	cancel()
	<-done

	w.finalReads(t, rec, keys)
	conv, why := w.waitConverged(t, healed)
	rd.Converge = conv
	rd.Checks = append(rd.Checks, chaos.CheckResult{Name: chaos.CheckConverged, Passed: why == "" && conv <= 30*time.Second,
		Detail: convergedDetail(conv, why)})
	c.WaitFormed()

	ops := rec.Ops()
	rd.Ops = chaos.Counts(ops)
	v := chaos.Linearizable(ops, time.Minute)
	rd.Checks = append(rd.Checks, chaos.CheckResult{Name: chaos.CheckLinearizable, Passed: v.Result == porcupine.Ok,
		Detail: linDetail(v)})
	rd.Checks = append(rd.Checks, w.checkCreates(t, ops))
	rd.Checks = append(rd.Checks, w.checkExclusive())
	rd.Took = time.Since(began)
	t.Logf("seed %d: round took %v, converged %v after the last heal, ops %v; errors seen: %s", s.Seed, rd.Took.Round(time.Second),
		conv.Round(100*time.Millisecond), rd.Ops, errorSample(ops, 4))
	return rd
}

// errorSample lists up to n distinct errors of ops that did not succeed,
// for the log: what the clients saw during the faults.
func errorSample(ops []chaos.Op, n int) string {
	seen := map[string]int{}
	var order []string
	for _, o := range ops {
		if o.Status == chaos.OK || o.Detail == "" {
			continue
		}
		d := o.Detail
		if len(d) > 160 {
			d = d[:160] + "..."
		}
		if seen[d] == 0 {
			order = append(order, d)
		}
		seen[d]++
	}
	var out []string
	for _, d := range order[:min(n, len(order))] {
		out = append(out, fmt.Sprintf("%dx %q", seen[d], d))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

func convergedDetail(d time.Duration, why string) string {
	if why != "" {
		return fmt.Sprintf("not back at the desired counts after %v: %s", d.Round(100*time.Millisecond), why)
	}
	return fmt.Sprintf("back at the desired counts %v after the last heal (bound 30s)", d.Round(100*time.Millisecond))
}

func linDetail(v chaos.Verdict) string {
	switch v.Result {
	case porcupine.Ok:
		return fmt.Sprintf("%d register ops linearize", v.Ops)
	case porcupine.Illegal:
		return fmt.Sprintf("%d register ops do not linearize: %s", v.Ops, v.Detail)
	}
	return fmt.Sprintf("the checker gave up on %d register ops (timed out): not shown linearizable", v.Ops)
}

// writeChaosReport logs the report and writes it to CHAOS_REPORT.
func writeChaosReport(t *testing.T, r *chaos.Report) {
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	t.Logf("\n%s", b.String())
	if p := os.Getenv("CHAOS_REPORT"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write the report to %s: %v", p, err)
		}
	}
}
