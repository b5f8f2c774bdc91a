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
	"shoal/cluster"
	"shoal/internal/testenv"
	"shoal/sim/spread"
)

// BenchmarkIdleCPU measures what an idle cluster costs: N real agents in
// network namespaces with the default flags and no pods, after the
// cluster formed and settled, over a window of idle time. It reports how
// many agents hold Raft (voters, non-voting replicas) and how many are
// clients following the state stream, the leader's CPU, the other Raft
// members' and the clients' (mean and max of each), in percent of one
// core from /proc/PID/stat, and the Raft entries committed per second
// (the leader's state index over the window); then how long a write
// through the leader takes to show on another member and on a client.
// The agents share one containerd, each in a containerd namespace of its
// own, so that N containerds do not compete with the agents for the
// machine (SHOAL_IDLE_OWN_CONTAINERD=1: each supervises its own, as by
// default); SHOAL_IDLE_ARGS adds agent flags (e.g. "--gossip-profile
// test"). Run (scripts/bench-idle.sh prints the table):
//
//	SHOAL_IDLE_N=5,10,20 SHOAL_IDLE_FOR=60s go test ./integration -run '^$' -bench IdleCPU -benchtime 1x -timeout 60m
func BenchmarkIdleCPU(b *testing.B) {
	counts, idle, settle := idleParams(b)
	for _, n := range counts {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			// One pass whatever b.N asks: a pass is minutes long.
			m := measureIdle(b, n, settle, idle)
			b.ReportMetric(float64(m.voters), "voters")
			b.ReportMetric(float64(m.replicas), "replicas")
			b.ReportMetric(float64(m.clients), "clients")
			b.ReportMetric(m.leader, "leader-%core")
			b.ReportMetric(m.member.Mean, "member-%core")
			b.ReportMetric(m.member.Max, "member-max-%core")
			if m.clients > 0 {
				b.ReportMetric(m.client.Mean, "client-%core")
				b.ReportMetric(m.client.Max, "client-max-%core")
				b.ReportMetric(ms(m.clientVisible), "client-visible-ms")
			}
			b.ReportMetric(m.entries, "entries/s")
			b.ReportMetric(ms(m.visible), "visible-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
	voters, replicas, clients int
	leader                    float64
	member, client            spread.Group
	entries                   float64
	// visible and clientVisible are how long a write takes to show on
	// another Raft member and on a client (0 without one).
	visible, clientVisible time.Duration
}

func measureIdle(b *testing.B, n int, settle, idle time.Duration) idleFigures {
	b.Helper()
	c := startIdleCluster(b, n)
	time.Sleep(settle) // a measurement: the settling is the point
	leader := c.WaitLeader()
	roles := raftRoles(b, c, leader)
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
		switch roles[i] {
		case cluster.RaftLeader:
			f.leader = pct
		case cluster.RaftClient:
			f.client.Add(pct)
		default:
			f.member.Add(pct)
		}
	}
	f.voters, f.replicas, f.clients = cluster.CountRaftRoles(roles...)
	if now := c.WaitLeader(); now != leader {
		b.Logf("the leader moved from agent%d to agent%d during the window: its figures are a mix", leader+1, now+1)
	}
	if after := raftRoles(b, c, leader); !slices.Equal(after, roles) {
		b.Logf("Raft membership changed during the window: %v, then %v", roles, after)
	}
	f.entries = float64(leaderIndex(b, c.Agents[leader])-index) / wall.Seconds()
	b.Logf("%d agents idle %v: %d voters, %d replicas, %d clients; leader agent%d %.2f%% of a core, "+
		"members %.2f%% mean (max %.2f%%), clients %.2f%% mean (max %.2f%%), %.2f Raft entries/s",
		n, wall.Round(time.Second), f.voters, f.replicas, f.clients, leader+1, f.leader,
		f.member.Mean, f.member.Max, f.client.Mean, f.client.Max, f.entries)
	f.visible = visibleOn(b, c, leader, roles, false)
	f.clientVisible = visibleOn(b, c, leader, roles, true)
	c.LogRSS(b)
	return f
}

// startIdleCluster starts n agents with the default flags (and
// SHOAL_IDLE_ARGS), sharing one containerd unless
// SHOAL_IDLE_OWN_CONTAINERD is set.
func startIdleCluster(b *testing.B, n int) *Cluster {
	b.Helper()
	var ctrd string
	if os.Getenv("SHOAL_IDLE_OWN_CONTAINERD") == "" {
		ctrd = testenv.Containerd(b)
	}
	extra := strings.Fields(os.Getenv("SHOAL_IDLE_ARGS"))
	wide := wideClusterCIDR(b, n)
	return StartClusterWith(b, ClusterOptions{N: n, Plain: true, Configure: func(i int, o *Options) {
		if wide != "" {
			o.ClusterCIDR = wide
		}
		if ctrd != "" {
			o.Containerd = ctrd
			o.Args = append(o.Args, "--containerd-namespace", fmt.Sprintf("idle%d", i+1))
		}
		o.Args = append(o.Args, extra...)
	}})
}

// raftRoles is each agent's Raft role (leader, voter, nonvoter or
// client) as the leader's `get nodes` shows it.
func raftRoles(b *testing.B, c *Cluster, leader int) []string {
	b.Helper()
	nodes, err := c.Nodes(leader)
	if err != nil {
		b.Fatal(err)
	}
	roles := make([]string, len(c.Agents))
	for _, nd := range nodes {
		if i := c.Index(nd.Metadata.Name); i >= 0 {
			roles[i] = nd.Status.Raft
		}
	}
	for i, r := range roles {
		if r == "" {
			b.Fatalf("the leader does not list agent%d: %s", i+1, NodeSummary(nodes))
		}
	}
	return roles
}

// visibleOn measures, on the first Raft member other than the leader (or
// the first client), the median time of 10 writes through the leader to
// show there; 0 when the cluster has no such agent.
func visibleOn(b *testing.B, c *Cluster, leader int, roles []string, client bool) time.Duration {
	b.Helper()
	for i, r := range roles {
		if i == leader || (r == cluster.RaftClient) != client {
			continue
		}
		median, longest := changeLatency(b, c.Agents[leader], c.Agents[i], 10)
		b.Logf("a write through the leader after a quiet second shows on agent%d (%s) in %v (median of 10; longest %v)",
			i+1, r, median.Round(time.Millisecond), longest.Round(time.Millisecond))
		return median
	}
	return 0
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
