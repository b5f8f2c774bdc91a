package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/internal/testimage"
)

// A Cluster is N real agents on one machine, each in a network namespace
// of its own on one test bridge, with its own address and the agent's
// default ports (gossip 7946, Raft 7947, API 7948), each supervising its
// own containerd under its data dir. The host holds the bridge's .1 address:
// the CLI reaches every agent from there (with the cluster token, as any
// client off loopback must), and the tests' registry listens there for the
// agents to pull from.
//
//	host ── bridge sh<N> 172.31.X.1 ─┬─ veth ── netns sh<N>a1: eth0 172.31.X.11  agent1 (+ containerd, pods)
//	        registry 172.31.X.1:5000 ├─ veth ── netns sh<N>a2: eth0 172.31.X.12  agent2 --join 172.31.X.11:7948
//	                                 └─ ...
//
// Faults act on one agent by index: Kill9 (the agent crashes, its pods run
// on), PowerOff (the agent, its containerd, shims and containers die at
// once and its link goes down), CutLink/RestoreLink (a pulled cable: the
// processes run on, cut off), Restart (same data dir and flags).

// Failure-detection timings the cluster tests run with: the LAN defaults
// take tens of seconds to declare a node dead, so the agents get the test
// gossip profile, a short dead grace and a short fencing lease.
const (
	TestGossipProfile = "test"
	TestDeadGrace     = 5 * time.Second
	TestLease         = 4 * time.Second
	// ClusterTimeout bounds what takes the cluster a few failure-detection
	// rounds: forming, electing, replacing a voter, rescheduling.
	ClusterTimeout = 120 * time.Second
)

// ClusterOptions configure StartClusterWith.
type ClusterOptions struct {
	// N is the number of agents (at least 1).
	N int
	// Configure adjusts agent i's options (0-based) before it starts: the
	// cluster fills Name, NetNS, Addr, DataDir, ClusterCIDR, Join, Token
	// and the registry first.
	Configure func(i int, o *Options)
	// Image serves the tests' busybox image from a registry on the
	// bridge's host address; Cluster.Image is its reference.
	Image bool
	// Plain leaves out the cluster-only agent flags (--advertise, the
	// failure-detection timings), for a lone agent of an older binary.
	Plain bool
	// NoWait returns once every agent's API answers, without waiting for
	// every agent to list every node.
	NoWait bool
}

// Cluster is a set of agents with verbs by index (0-based).
type Cluster struct {
	t      testing.TB
	Agents []*Agent
	NS     []*NetNS
	// Bridge is the test bridge on the host; Subnet its /24's first three
	// octets ("172.31.X"); HostAddr the host's address on it.
	Bridge, Subnet, HostAddr string
	// Token is the cluster token agent 1 created.
	Token string
	// Registry is host:port of the registry on the bridge and Image the
	// test image's reference there ("" without ClusterOptions.Image).
	Registry, Image string
	// ClusterCIDR is the pod network the agents share.
	ClusterCIDR string

	opts ClusterOptions
	mu   sync.Mutex
	down map[int]string // agent index → "cut" or "off"
	seq  int
}

// StartCluster starts n agents in their own network namespaces, serving
// the test image (Cluster.Image), and waits until the cluster is formed;
// configure (may be nil) adjusts each agent's options.
func StartCluster(t testing.TB, n int, configure func(i int, o *Options)) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{N: n, Configure: configure, Image: true})
}

// StartClusterWith starts a cluster: the bridge, the registry, agent 1
// (no --join: it creates the cluster and its token), then the others with
// `--join <agent1>:7948` and the join token all at once, and waits until every
// agent's API answers and (unless NoWait) every agent lists all N nodes.
// Everything is removed at the end of the test: the workloads through the
// API, then the agents, their containerd, shims and containers by PID,
// the pod network namespaces, the agents' namespaces, the bridge, the
// registry, the data dirs.
func StartClusterWith(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	RequireRoot(t)
	testenv.RequireBinary(t, "nsenter")
	if opts.N < 1 {
		t.Fatal("StartClusterWith: N must be at least 1")
	}
	Binary(t)
	c := &Cluster{t: t, opts: opts, down: map[int]string{}}
	// Bridge names: "sh" + a per-process number, short enough for the
	// namespaces' veths ("v" + name + "a" + index) to fit in 15 bytes.
	c.Bridge = fmt.Sprintf("sh%d%c", os.Getpid()%100000, 'a'+rune(netSeq.Add(1)%26))
	c.Subnet = FreeSubnet(t, "172.31")
	c.HostAddr = c.Subnet + ".1"
	c.ClusterCIDR = testenv.ClusterCIDR(t)
	CreateBridge(t, c.Bridge, c.HostAddr+"/24")
	if opts.Image {
		c.Registry = bridgeRegistry(t, c.HostAddr)
		c.Image = c.Registry + "/shoal/busybox:1"
		testenv.PushImage(t, testimage.Busybox(t), c.Image)
	}
	for i := range opts.N {
		c.NS = append(c.NS, CreateNetNS(t, c.nsName(i), c.Bridge, c.Addr(i)+"/24", c.HostAddr))
	}

	start := time.Now()
	first := LaunchAgent(t, c.options(0))
	c.Agents = append(c.Agents, first)
	first.WaitReady()
	poll.Until(t, 10*time.Second, "agent1's join token", func() (bool, string) {
		c.Token = first.Token()
		return c.Token != "", "agent1 wrote no join token to " + filepath.Join(first.Opts.DataDir, "join-token")
	})
	for i := 1; i < opts.N; i++ {
		c.Agents = append(c.Agents, LaunchAgent(t, c.options(i)))
	}
	for _, a := range c.Agents[1:] {
		a.WaitReady()
	}
	// First in, first out: this runs before the agents' own cleanups.
	t.Cleanup(c.cleanup)
	if !opts.NoWait && opts.N > 1 {
		c.WaitFormed()
		t.Logf("cluster of %d agents formed in %v (cold start to every agent listing every node Ready)", opts.N, time.Since(start).Round(100*time.Millisecond))
	}
	return c
}

// Addr is agent i's address on the bridge.
func (c *Cluster) Addr(i int) string { return fmt.Sprintf("%s.%d", c.Subnet, 11+i) }

func (c *Cluster) nsName(i int) string { return fmt.Sprintf("%sa%d", c.Bridge, i+1) }

// options are agent i's: its namespace and address, the shared pod
// network, the registry, --join and --token for all but the first.
func (c *Cluster) options(i int) Options {
	o := Options{
		Name:        fmt.Sprintf("agent%d", i+1),
		NetNS:       c.nsName(i),
		Addr:        c.Addr(i),
		ClusterCIDR: c.ClusterCIDR,
	}
	if c.Registry != "" {
		o.InsecureRegistries = []string{c.Registry}
	}
	if i > 0 {
		o.Join = []string{net.JoinHostPort(c.Addr(0), strconv.Itoa(DefaultAPIPort))}
		o.Token = c.Token
	}
	if !c.opts.Plain {
		o.Args = append(o.Args, "--advertise", o.Addr)
		o.Args = append(o.Args, TimingArgs()...)
	}
	if c.opts.Configure != nil {
		c.opts.Configure(i, &o)
	}
	return o
}

// TimingArgs are the agent flags for the tests' failure-detection timings.
func TimingArgs() []string {
	return []string{"--gossip-profile", TestGossipProfile, "--dead-grace", TestDeadGrace.String(), "--lease", TestLease.String()}
}

// AddNetNS creates one more namespace on the cluster's bridge (for an
// agent that is not one of the N: a late joiner, an intruder) and returns
// it with the options of an agent in it (not joined: set Join and Token).
func (c *Cluster) AddNetNS(name string) (*NetNS, Options) {
	c.t.Helper()
	c.mu.Lock()
	c.seq++
	i := len(c.NS) + c.seq + 20 // addresses .31 on: clear of the N agents'
	c.mu.Unlock()
	addr := fmt.Sprintf("%s.%d", c.Subnet, 11+i)
	ns := CreateNetNS(c.t, fmt.Sprintf("%sx%d", c.Bridge, i), c.Bridge, addr+"/24", c.HostAddr)
	o := Options{Name: name, NetNS: ns.Name, Addr: addr, ClusterCIDR: c.ClusterCIDR}
	if c.Registry != "" {
		o.InsecureRegistries = []string{c.Registry}
	}
	if !c.opts.Plain {
		o.Args = append([]string{"--advertise", addr}, TimingArgs()...)
	}
	return ns, o
}

// Node is what `get nodes -o json` says about one node (the fields the
// tests read; the README's `get -o json` contract).
type Node struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR       string `json:"podCIDR"`
		Unschedulable bool   `json:"unschedulable"`
	} `json:"spec"`
	Status struct {
		Capacity    map[string]string `json:"capacity"`
		Allocatable map[string]string `json:"allocatable"`
		// Raft is the node's Raft role: leader, voter or nonvoter.
		Raft       string `json:"raft"`
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
		Addresses []struct {
			Type, Address string
		} `json:"addresses"`
	} `json:"status"`
}

// Ready is the status of the node's Ready condition: "True" (Ready),
// "Unknown" (NotReady, suspected), "False" (Down) or "" (none).
func (n Node) Ready() string {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status
		}
	}
	return ""
}

// Address is the node's InternalIP.
func (n Node) Address() string {
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			return a.Address
		}
	}
	return ""
}

// IsVoter: the leader and the voters vote.
func (n Node) IsVoter() bool { return n.Status.Raft == "leader" || n.Status.Raft == "voter" }

// Nodes asks agent i for `get nodes -o json`.
func (c *Cluster) Nodes(i int) ([]Node, error) {
	r := c.Agents[i].Run("get", "nodes", "-o", "json")
	if r.Code != 0 {
		return nil, fmt.Errorf("%s", r.Err())
	}
	var l struct{ Items []Node }
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
		return nil, fmt.Errorf("get nodes -o json from agent%d: %v", i+1, err)
	}
	return l.Items, nil
}

// NodeSummary is "name role readiness" per node, for messages.
func NodeSummary(nodes []Node) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		parts[i] = fmt.Sprintf("%s %s Ready=%s", n.Metadata.Name, orNone(n.Status.Raft), orNone(n.Ready()))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Index is the agent index of a node name (-1 if none).
func (c *Cluster) Index(name string) int {
	for i, a := range c.Agents {
		if a.Opts.Name == name {
			return i
		}
	}
	return -1
}

// Alive lists the agents that run and are connected (not killed, powered
// off or cut off).
func (c *Cluster) Alive() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, a := range c.Agents {
		if a.Running() && c.down[i] == "" {
			out = append(out, i)
		}
	}
	return out
}

// Any returns an alive agent to talk to: the first one, preferring those
// that are not in except.
func (c *Cluster) Any(except ...int) *Agent {
	c.t.Helper()
	alive := c.Alive()
	for _, i := range alive {
		if !slices.Contains(except, i) {
			return c.Agents[i]
		}
	}
	if len(alive) > 0 {
		return c.Agents[alive[0]]
	}
	c.t.Fatal("no agent of the cluster is alive")
	return nil
}

// Shoal runs the CLI against an alive agent and fails unless it exits 0.
func (c *Cluster) Shoal(t testing.TB, args ...string) string {
	t.Helper()
	return c.Any().Shoal(t, args...)
}

// Leader is the index of the agent that the alive agents agree is the
// Raft leader (`.status.raft == "leader"` in each one's `get nodes`), or
// -1 with the reason when there is none or they disagree.
func (c *Cluster) Leader() (int, string) {
	leader := ""
	for _, i := range c.Alive() {
		nodes, err := c.Nodes(i)
		if err != nil {
			return -1, err.Error()
		}
		var l []string
		for _, n := range nodes {
			if n.Status.Raft == "leader" {
				l = append(l, n.Metadata.Name)
			}
		}
		switch {
		case len(l) != 1:
			return -1, fmt.Sprintf("agent%d sees %d leaders: %s", i+1, len(l), NodeSummary(nodes))
		case leader != "" && l[0] != leader:
			return -1, fmt.Sprintf("agents disagree on the leader: %s and %s", leader, l[0])
		}
		leader = l[0]
	}
	if leader == "" {
		return -1, "no agent alive"
	}
	return c.Index(leader), ""
}

// WaitLeader waits until the alive agents agree on a leader and returns it.
func (c *Cluster) WaitLeader() int {
	c.t.Helper()
	var l int
	poll.Until(c.t, ClusterTimeout, "a leader the alive agents agree on", func() (bool, string) {
		var why string
		l, why = c.Leader()
		return l >= 0, why
	})
	return l
}

// WaitForNewLeader waits until the alive agents agree on a leader other
// than old and returns it.
func (c *Cluster) WaitForNewLeader(old int) int {
	c.t.Helper()
	var l int
	poll.Until(c.t, ClusterTimeout, fmt.Sprintf("a leader other than agent%d", old+1), func() (bool, string) {
		var why string
		l, why = c.Leader()
		if l == old {
			return false, fmt.Sprintf("agent%d still reported leader", old+1)
		}
		return l >= 0, why
	})
	return l
}

// WaitFormed waits until every alive agent lists every agent of the
// cluster as a Ready node, exactly once.
func (c *Cluster) WaitFormed() {
	c.t.Helper()
	poll.Until(c.t, ClusterTimeout, "the cluster to form", func() (bool, string) {
		for _, i := range c.Alive() {
			nodes, err := c.Nodes(i)
			if err != nil {
				return false, err.Error()
			}
			if why := c.allListed(nodes); why != "" {
				return false, fmt.Sprintf("agent%d: %s", i+1, why)
			}
			// Formed means quorum can survive a failure too: the leader
			// has promoted as many voters as the cluster's size calls for.
			voters := 0
			for _, n := range nodes {
				if n.Status.Raft == "leader" || n.Status.Raft == "voter" {
					voters++
				}
			}
			if want := wantVoters(len(c.Agents)); voters != want {
				return false, fmt.Sprintf("agent%d: %d voters, want %d: %s", i+1, voters, want, NodeSummary(nodes))
			}
		}
		return true, ""
	})
}

// wantVoters is how many Raft voters n agents settle on (autopilot's
// default target: 1 for 1–2 agents, 3 for 3–6, 5 from 7).
func wantVoters(n int) int {
	switch {
	case n >= 7:
		return 5
	case n >= 3:
		return 3
	}
	return 1
}

// allListed says what is wrong with nodes as a list of exactly this
// cluster's agents, all Ready ("" when nothing is).
func (c *Cluster) allListed(nodes []Node) string {
	seen := map[string]int{}
	for _, n := range nodes {
		seen[n.Metadata.Name]++
	}
	for _, a := range c.Agents {
		if seen[a.Opts.Name] != 1 {
			return fmt.Sprintf("%s listed %d times: %s", a.Opts.Name, seen[a.Opts.Name], NodeSummary(nodes))
		}
	}
	if len(nodes) != len(c.Agents) {
		return fmt.Sprintf("%d nodes listed, want %d: %s", len(nodes), len(c.Agents), NodeSummary(nodes))
	}
	for _, n := range nodes {
		if n.Ready() != "True" {
			return "not all Ready: " + NodeSummary(nodes)
		}
	}
	return ""
}

// Kill9 kills agent i with SIGKILL; its containerd and pods run on.
func (c *Cluster) Kill9(i int) { c.Agents[i].Kill9() }

// PowerOff is a power cut of node i: the agent, its containerd, the shims
// and the containers are frozen and killed together by PID (everything
// running from its data dir), what a reboot would lose goes (the pod
// network namespaces' mounts, the mounts under its data dir, the node's
// network namespace with its bridge, veths, routes and iptables rules:
// made anew) and its link goes down so that its address stops answering.
// Restart powers it on.
func (c *Cluster) PowerOff(i int) {
	c.t.Helper()
	a := c.Agents[i]
	c.NS[i].CutLink(c.t)
	killTree(c.t, a.Opts.DataDir, a.PID())
	// The agent's Wait sees it go.
	if !a.signalAndWait(syscall.SIGKILL, 10*time.Second) {
		c.t.Fatalf("agent%d survived its power-off", i+1)
	}
	removePodNetNS(c.t, a.Opts.DataDir)
	testenv.UnmountUnder(c.t, a.Opts.DataDir)
	// A reboot also loses the node's network state (the pod bridge, the
	// veths, routes, iptables rules): the namespace is made anew, with the
	// same name and address, its link down until Restart.
	c.NS[i] = CreateNetNS(c.t, c.NS[i].Name, c.Bridge, c.NS[i].Addr+"/24", c.HostAddr)
	c.NS[i].CutLink(c.t)
	c.mu.Lock()
	c.down[i] = "off"
	c.mu.Unlock()
}

// CutLink partitions node i: its veth goes down, its processes run on.
func (c *Cluster) CutLink(i int) {
	c.t.Helper()
	c.NS[i].CutLink(c.t)
	c.mu.Lock()
	c.down[i] = "cut"
	c.mu.Unlock()
}

// RestoreLink heals the partition of node i.
func (c *Cluster) RestoreLink(i int) {
	c.t.Helper()
	c.NS[i].RestoreLink(c.t)
	c.mu.Lock()
	delete(c.down, i)
	c.mu.Unlock()
}

// Restart starts agent i again with the same data dir and flags (after
// Kill9, Stop or PowerOff; a powered-off node's link comes back first) and
// waits until its API lists its node.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	state := c.down[i]
	c.mu.Unlock()
	if state != "" {
		c.RestoreLink(i)
	}
	c.Agents[i].Restart()
}

// PodTasksPrefix counts the running containerd tasks in agent i's
// containerd of the pods whose names start with prefix.
func (c *Cluster) PodTasksPrefix(i int, prefix string) (running int, ok bool) {
	return c.podTasks(i, fmt.Sprintf(`labels."io.shoal.pod.name"~="^%s"`, regexp.QuoteMeta(prefix)))
}

// PodTasks counts the running containerd tasks of pod (by its name label)
// in agent i's containerd: what really runs there, whatever any API says.
// It talks to the containerd socket, so it works across a cut link; ok is
// false when that containerd does not answer (powered off, not started).
func (c *Cluster) PodTasks(i int, pod string) (running int, ok bool) {
	return c.podTasks(i, fmt.Sprintf(`labels."io.shoal.pod.name"==%s`, pod))
}

func (c *Cluster) podTasks(i int, filter string) (running int, ok bool) {
	sock := c.Agents[i].ContainerdSocket()
	if sock == "" {
		return 0, false
	}
	ctr := func(args ...string) (string, error) {
		out, err := exec.Command("ctr", append([]string{"--address", sock, "--namespace", "shoal"}, args...)...).Output()
		return string(out), err
	}
	ids, err := ctr("containers", "ls", "-q", filter)
	if err != nil {
		return 0, false
	}
	want := strings.Fields(ids)
	if len(want) == 0 {
		return 0, true
	}
	tasks, err := ctr("tasks", "ls")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(tasks, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && slices.Contains(want, f[0]) && f[2] == "RUNNING" {
			running++
		}
	}
	return running, true
}

// PodsOn counts pods by spec.nodeName.
func PodsOn(pods []corev1.Pod) map[string]int {
	out := map[string]int{}
	for _, p := range pods {
		out[p.Spec.NodeName]++
	}
	return out
}

// cleanup removes the workloads through an agent that has a quorum (links
// restored first), waits a while for their pods to go, then retires the
// agents, last first; each agent's own cleanup then removes what is left
// by PID and path.
func (c *Cluster) cleanup() {
	t := c.t
	if t.Failed() {
		for i, a := range c.Agents {
			if nodes, err := c.Nodes(i); err == nil && a.Running() {
				t.Logf("agent%d's view at the end: %s", i+1, NodeSummary(nodes))
			}
		}
	}
	c.mu.Lock()
	cut := []int{}
	for i, s := range c.down {
		if s == "cut" {
			cut = append(cut, i)
		}
	}
	c.mu.Unlock()
	for _, i := range cut {
		c.NS[i].RestoreLink(t)
	}
	var via *Agent
	for _, a := range c.Agents {
		if a.Running() && a.Run("get", "nodes").Code == 0 {
			via = a
			break
		}
	}
	if via != nil {
		via.removeEverythingWithin(30 * time.Second)
	}
	// All at once: the workloads are gone, and an agent stopping after
	// its quorum has gone may wait out its whole grace period.
	var wg sync.WaitGroup
	for _, a := range c.Agents {
		wg.Add(1)
		go func() { defer wg.Done(); a.Retire() }()
	}
	wg.Wait()
}

// bridgeRegistry runs Debian's docker-registry on addr:5000 (the host's
// address on a test bridge, so the agents in their namespaces reach it),
// storage in a temporary directory, stopped by PID at the end of the test.
func bridgeRegistry(t testing.TB, addr string) string {
	t.Helper()
	bin := testenv.RequireBinary(t, "docker-registry")
	dir := t.TempDir()
	hostport := net.JoinHostPort(addr, "5000")
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), hostport)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	poll.Until(t, 20*time.Second, "the registry to listen", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("registry on %s exited:\n%s", hostport, tail(filepath.Join(dir, "registry.log"), 20))
		default:
		}
		conn, err := net.DialTimeout("tcp", hostport, time.Second)
		if err != nil {
			return false, fmt.Sprintf("registry on %s: %v", hostport, err)
		}
		conn.Close()
		return true, ""
	})
	return hostport
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// LogRSS logs each running agent's resident memory (VmRSS and its
// anonymous part), for the figures the cluster issue reports.
func (c *Cluster) LogRSS(t testing.TB) {
	t.Helper()
	for _, a := range c.Agents {
		pid := a.PID()
		if pid == 0 || !a.Running() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var rss, anon string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "VmRSS:" {
				rss = f[1] + " kB"
			}
			if len(f) >= 2 && f[0] == "RssAnon:" {
				anon = f[1] + " kB"
			}
		}
		t.Logf("%s RSS %s (anonymous %s)", a.Opts.Name, rss, anon)
	}
}
