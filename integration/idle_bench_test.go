package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/internal/testenv"
)

// BenchmarkIdleCPU measures what an idle cluster costs: N real agents in
// network namespaces with the default flags and no pods, after the
// cluster formed and settled, over a window of idle time. It reports the
// leader's CPU and each other agent's (mean and max), in percent of one
// core from /proc/PID/stat, and the Raft entries committed per second
// (the leader's state index over the window); then how long a write
// through the leader takes to show on another member. The agents share one
// containerd, each in a containerd namespace of its own, so that N
// containerds do not compete with the agents for the machine
// (SHOAL_IDLE_OWN_CONTAINERD=1: each supervises its own, as by default);
// SHOAL_IDLE_ARGS adds agent flags (e.g. "--gossip-profile test"). Run
// (scripts/bench-idle.sh prints the table):
//
//	SHOAL_IDLE_N=5,10,20 SHOAL_IDLE_FOR=60s go test ./integration -run '^$' -bench IdleCPU -benchtime 1x -timeout 60m
func BenchmarkIdleCPU(b *testing.B) {
	counts, idle, settle := idleParams(b)
	for _, n := range counts {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			// One pass whatever b.N asks: a pass is minutes long.
			m := measureIdle(b, n, settle, idle)
			b.ReportMetric(m.leader, "leader-%core")
			b.ReportMetric(m.agentMean, "agent-%core")
			b.ReportMetric(m.agentMax, "agent-max-%core")
			b.ReportMetric(m.entries, "entries/s")
			b.ReportMetric(float64(m.visible.Microseconds())/1000, "visible-ms")
		})
	}
}

// idleParams reads the agent counts (SHOAL_IDLE_N, default 5), the idle
// window (SHOAL_IDLE_FOR, default 60s) and the settling time before it
// (SHOAL_IDLE_SETTLE, default 30s: autopilot's promotions and the first
// metrics and certificate rounds are start-up, not idling).
func idleParams(b *testing.B) (counts []int, idle, settle time.Duration) {
	b.Helper()
	for f := range strings.SplitSeq(envOr("SHOAL_IDLE_N", "5"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("SHOAL_IDLE_N: %q is not a count of agents", f)
		}
		counts = append(counts, n)
	}
	var err error
	if idle, err = time.ParseDuration(envOr("SHOAL_IDLE_FOR", "60s")); err != nil {
		b.Fatalf("SHOAL_IDLE_FOR: %v", err)
	}
	if settle, err = time.ParseDuration(envOr("SHOAL_IDLE_SETTLE", "30s")); err != nil {
		b.Fatalf("SHOAL_IDLE_SETTLE: %v", err)
	}
	return counts, idle, settle
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// idleFigures are one window's: CPU in percent of one core.
type idleFigures struct {
	leader, agentMean, agentMax float64
	entries                     float64
	// visible is how long a write takes to show on another member.
	visible, visibleMax time.Duration
}

func measureIdle(b *testing.B, n int, settle, idle time.Duration) idleFigures {
	b.Helper()
	var ctrd string
	if os.Getenv("SHOAL_IDLE_OWN_CONTAINERD") == "" {
		ctrd = testenv.Containerd(b)
	}
	extra := strings.Fields(os.Getenv("SHOAL_IDLE_ARGS"))
	wide := wideClusterCIDR(b, n)
	c := StartClusterWith(b, ClusterOptions{N: n, Plain: true, Configure: func(i int, o *Options) {
		if wide != "" {
			o.ClusterCIDR = wide
		}
		if ctrd != "" {
			o.Containerd = ctrd
			o.Args = append(o.Args, "--containerd-namespace", fmt.Sprintf("idle%d", i+1))
		}
		o.Args = append(o.Args, extra...)
	}})
	time.Sleep(settle) // a measurement: the settling is the point
	leader := c.WaitLeader()
	index := leaderIndex(b, c.Agents[leader])
	pids := make([]int, n)
	before := make([]time.Duration, n)
	for i, a := range c.Agents {
		pids[i] = a.PID()
		before[i] = procCPU(b, pids[i])
	}
	start := time.Now()
	b.ResetTimer()
	time.Sleep(idle)
	wall := time.Since(start)
	b.StopTimer()
	var f idleFigures
	for i := range c.Agents {
		pct := 100 * (procCPU(b, pids[i]) - before[i]).Seconds() / wall.Seconds()
		if i == leader {
			f.leader = pct
			continue
		}
		f.agentMean += pct / float64(n-1)
		f.agentMax = max(f.agentMax, pct)
	}
	if now := c.WaitLeader(); now != leader {
		b.Logf("the leader moved from agent%d to agent%d during the window: its figures are a mix", leader+1, now+1)
	}
	f.entries = float64(leaderIndex(b, c.Agents[leader])-index) / wall.Seconds()
	b.Logf("%d agents idle %v: leader agent%d %.2f%% of a core, others %.2f%% mean (max %.2f%%), %.2f Raft entries/s",
		n, wall.Round(time.Second), leader+1, f.leader, f.agentMean, f.agentMax, f.entries)
	if n > 1 {
		f.visible, f.visibleMax = changeLatency(b, c.Agents[leader], c.Agents[(leader+1)%n], 10)
		b.Logf("a write through the leader after a quiet second shows on agent%d in %v (median of 10; longest %v)",
			(leader+1)%n+1, f.visible.Round(time.Millisecond), f.visibleMax.Round(time.Millisecond))
	}
	c.LogRSS(b)
	return f
}

// wideClusterCIDR is a pod network with room for n nodes' /24s when the
// test /20 (16 nodes) is too small, "" otherwise: the /16 around a free
// test /20. Without pods the agents only route it inside their own
// network namespaces, so it cannot disturb the host's routes.
func wideClusterCIDR(b *testing.B, n int) string {
	if n <= 16 {
		return ""
	}
	if n > 250 {
		b.Fatalf("%d agents: more than a /16 of pod networks holds", n)
	}
	octets := strings.SplitN(testenv.ClusterCIDR(b), ".", 3)
	return octets[0] + "." + octets[1] + ".0.0/16"
}

// leaderIndex is the Raft index of the state agent a serves (a list's
// index).
func leaderIndex(b *testing.B, a *Agent) uint64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := adminClient(b, a).Nodes(ctx)
	if err != nil {
		b.Fatalf("list nodes on %s: %v", a.Opts.Name, err)
	}
	return l.Index
}

// adminClient reaches agent a's API with the admin credentials it wrote.
func adminClient(b *testing.B, a *Agent) *apiclient.Client {
	b.Helper()
	creds, err := apiclient.LoadCredentials(a.AdminConf())
	if err != nil {
		b.Fatal(err)
	}
	tlsConf, err := creds.TLS()
	if err != nil {
		b.Fatal(err)
	}
	return apiclient.NewClient(a.API, creds.Token, tlsConf)
}

// changeLatency writes a ConfigMap through the leader rounds times, each
// after a quiet second (when a member learns of a commit only from the
// leader's commit timeout), and returns the median and the longest time
// until the write shows in member's state: its lists' index reaching the
// write's, polled every millisecond or so.
func changeLatency(b *testing.B, leader, member *Agent, rounds int) (median, longest time.Duration) {
	b.Helper()
	lc, mc := adminClient(b, leader), adminClient(b, member)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	took := make([]time.Duration, 0, rounds)
	for i := range rounds {
		time.Sleep(time.Second)
		doc := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: idle-probe}\ndata: {round: \"%d\"}\n", i)
		start := time.Now()
		resp, err := lc.Apply(ctx, []api.File{{Name: "probe.yaml", Data: doc}})
		if err != nil {
			b.Fatalf("apply through %s: %v", leader.Opts.Name, err)
		}
		for {
			l, err := mc.Nodes(ctx)
			if err != nil {
				b.Fatalf("list nodes on %s: %v", member.Opts.Name, err)
			}
			if l.Index >= resp.Index {
				break
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)-1]
}

// procCPU is a process's user plus system CPU time so far.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	d, err := parseStatCPU(string(raw))
	if err != nil {
		b.Fatalf("/proc/%d/stat: %v", pid, err)
	}
	return d
}

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on
// every Linux architecture Shoal runs on).
const userHZ = 100

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line; the command name in parentheses may hold spaces,
// so fields count from its closing parenthesis.
func parseStatCPU(stat string) (time.Duration, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(stat[end+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("utime/stime %q: %w", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}
