package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/internal/testenv"
)

// Timeouts the tests share. Generous because CI has 2 cores and the first
// pod of a test pulls its image; poll.Until returns as soon as the condition
// holds, so a fast machine pays nothing for them.
const (
	AgentStartTimeout = 60 * time.Second
	PodTimeout        = 120 * time.Second
	cleanupTimeout    = 60 * time.Second
	stopGrace         = 20 * time.Second
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// Binary returns the path of the shoal binary the tests run, building
// ./cmd/shoal once per test binary into a temporary directory (removed by
// CleanupBinary from TestMain). SHOAL_BIN names a prebuilt one instead.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("SHOAL_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		binDir, binErr = os.MkdirTemp("", "shoal-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "shoal")
		// The import path, not ./cmd/shoal: go test runs in the package
		// directory, and the import path builds from anywhere in the module.
		cmd := exec.Command("go", "build", "-o", binPath, "shoal/cmd/shoal")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build shoal/cmd/shoal: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// CleanupBinary removes what Binary built; TestMain calls it last.
func CleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Options configure one agent. The zero value is a lone agent on loopback
// that supervises its own containerd under a fresh data dir.
type Options struct {
	// Name is the node name (default "agent1").
	Name string
	// DataDir defaults to a fresh short directory under os.TempDir (short
	// because containerd's socket lives under it and Unix socket paths are
	// limited to 108 bytes), removed at cleanup.
	DataDir string
	// Bind is the address the agent binds gossip and Raft to (default
	// 127.0.0.1, or Addr inside a network namespace).
	Bind string
	// APIPort, DNSPort and RaftPort default to free ports, so tests never
	// meet an agent someone runs by hand on the default ports. Inside a
	// network namespace (NetNS) the address is the agent's own, so they
	// default to the agent's defaults (API 7948, Raft 7947; DNS 1053) and
	// the flags are left out, as a user would.
	APIPort, DNSPort, RaftPort int
	// Bridge is the pod bridge's name and ClusterCIDR the pod network;
	// by default a bridge and a free /24 of this test's own
	// (internal/testenv), so tests and other agents on the machine never
	// share one. Agents of one cluster share ClusterCIDR.
	Bridge, ClusterCIDR string
	// ServiceCIDR is the Services' virtual IPs: the agent's default inside
	// a network namespace, else a /24 of the test's own, since agents on
	// the host's network share its nat table.
	ServiceCIDR string
	// Containerd is a running containerd's socket; "" lets the agent start
	// its own as a child, under its data dir (what users get by default).
	Containerd string
	// Join lists members to join (the cluster issue); Token is the cluster
	// token for a join.
	Join  []string
	Token string
	// Labels and Capacity become --labels and --capacity (k=v lists).
	Labels, Capacity map[string]string
	// InsecureRegistries become --insecure-registry.
	InsecureRegistries []string

	// NetNS runs the agent inside this network namespace (CreateNetNS);
	// Addr is its address there. Both empty: the host's network.
	NetNS string
	Addr  string

	// Args are appended to the agent's command line; Env to its
	// environment.
	Args []string
	Env  []string
}

// Agent is one running (or stopped) `shoal agent` process.
type Agent struct {
	t    testing.TB
	Opts Options
	// gossipPort is a free port for an agent on the host's network.
	gossipPort int
	// API is the host:port the CLI talks to.
	API string
	// DNS is the host:port of its DNS server.
	DNS string
	// Log is the file its stdout and stderr go to (appended across
	// restarts).
	Log string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	tmpDir bool
	// tok caches the token read from the data dir (see Token).
	tok string
	// retired: the test (or a Cluster's cleanup) is done with this agent;
	// its cleanup only removes what is left by PID and path, without
	// starting it again to remove its pods through the API.
	retired bool
}

// StartAgent starts an agent with opts, waits until its API answers and its
// node is listed, and stops it at the end of the test: first removing every
// workload, service and pod it runs (so containers, network namespaces and
// IPs are released the normal way), then the process by PID, then any
// containerd shims left under its data dir, then the data dir.
func StartAgent(t testing.TB, opts Options) *Agent {
	t.Helper()
	a := LaunchAgent(t, opts)
	a.WaitReady()
	return a
}

// LaunchAgent is StartAgent without the wait: the process is started and
// cleaned up the same way, but the caller decides what to wait for (an
// agent expected to fail, e.g. one joining with a wrong token, or several
// agents started together).
func LaunchAgent(t testing.TB, opts Options) *Agent {
	t.Helper()
	RequireRoot(t)
	// Build first: a compile error is the clearest failure there is.
	Binary(t)
	a := &Agent{t: t, Opts: opts}
	if a.Opts.Name == "" {
		a.Opts.Name = "agent1"
	}
	if a.Opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "shoal-it-")
		if err != nil {
			t.Fatal(err)
		}
		a.Opts.DataDir = dir
		a.tmpDir = true
	}
	host := "127.0.0.1"
	if a.Opts.NetNS != "" {
		if a.Opts.Addr == "" {
			t.Fatal("Options.NetNS needs Options.Addr, the agent's address in it")
		}
		host = a.Opts.Addr
	}
	if a.Opts.Bind == "" {
		a.Opts.Bind = host
	}
	if a.Opts.NetNS != "" {
		// The namespace has ports of its own: the defaults users get.
		if a.Opts.APIPort == 0 {
			a.Opts.APIPort = DefaultAPIPort
		}
		if a.Opts.DNSPort == 0 {
			a.Opts.DNSPort = nsDNSPort
		}
		if a.Opts.RaftPort == 0 {
			a.Opts.RaftPort = DefaultRaftPort
		}
	}
	if a.Opts.APIPort == 0 {
		a.Opts.APIPort = testenv.FreePort(t)
	}
	if a.Opts.DNSPort == 0 {
		a.Opts.DNSPort = testenv.FreePort(t)
	}
	if a.Opts.RaftPort == 0 {
		a.Opts.RaftPort = testenv.FreePort(t)
	}
	if a.Opts.NetNS == "" {
		a.gossipPort = testenv.FreePort(t)
	}
	if a.Opts.Bridge == "" {
		a.Opts.Bridge = testenv.Bridge(t)
	}
	if a.Opts.ClusterCIDR == "" {
		a.Opts.ClusterCIDR = testenv.PodCIDR(t)
	}
	if a.Opts.ServiceCIDR == "" && a.Opts.NetNS == "" {
		a.Opts.ServiceCIDR = testenv.ServiceCIDR(t)
	}
	a.API = net.JoinHostPort(host, strconv.Itoa(a.Opts.APIPort))
	a.DNS = net.JoinHostPort(host, strconv.Itoa(a.Opts.DNSPort))
	logDir := t.TempDir()
	a.Log = filepath.Join(logDir, a.Opts.Name+".log")

	t.Cleanup(a.cleanup)
	a.start()
	return a
}

// The agent's default ports (cluster/defaults.go), used as they are inside a
// network namespace; its DNS server answers the namespace on nsDNSPort
// (pods always get it on their bridge).
const (
	DefaultGossipPort = cluster.DefaultGossipPort
	DefaultRaftPort   = cluster.DefaultRaftPort
	DefaultAPIPort    = cluster.DefaultAPIPort
	nsDNSPort         = 1053
)

// args is the agent's command line, as the README documents it.
func (a *Agent) args() []string {
	o := a.Opts
	args := []string{"agent",
		"--name", o.Name,
		"--data-dir", o.DataDir,
		"--bind", o.Bind,
	}
	// In a namespace the default API and Raft ports are the agent's own;
	// leave the flags out there, as a user would.
	if o.NetNS == "" || o.APIPort != DefaultAPIPort {
		args = append(args, "--api-addr", a.API)
	}
	if o.NetNS == "" || o.RaftPort != DefaultRaftPort {
		args = append(args, "--raft-addr", net.JoinHostPort(o.Bind, strconv.Itoa(o.RaftPort)))
	}
	if o.NetNS == "" {
		// On the host's network, never meet an agent a user runs on the
		// default gossip port.
		args = append(args, "--gossip-addr", net.JoinHostPort(o.Bind, strconv.Itoa(a.gossipPort)))
	}
	args = append(args,
		"--dns-addr", a.DNS,
		"--bridge", o.Bridge,
		"--cluster-cidr", o.ClusterCIDR,
	)
	if o.ServiceCIDR != "" {
		args = append(args, "--service-cidr", o.ServiceCIDR)
	}
	if o.Containerd != "" {
		args = append(args, "--containerd", o.Containerd)
	}
	if len(o.Join) > 0 {
		args = append(args, "--join", strings.Join(o.Join, ","))
	}
	if len(o.Labels) > 0 {
		args = append(args, "--labels", kvList(o.Labels))
	}
	if len(o.Capacity) > 0 {
		args = append(args, "--capacity", kvList(o.Capacity))
	}
	if len(o.InsecureRegistries) > 0 {
		args = append(args, "--insecure-registry", strings.Join(o.InsecureRegistries, ","))
	}
	// SHOAL_TEST_AGENT_ARGS adds flags to every agent a test starts
	// (--log-level debug to replay a failure).
	args = append(args, strings.Fields(os.Getenv("SHOAL_TEST_AGENT_ARGS"))...)
	return append(args, o.Args...)
}

func (a *Agent) start() {
	a.t.Helper()
	logf, err := os.OpenFile(a.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s: shoal %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(a.args(), " "))
	name, args := Binary(a.t), a.args()
	if a.Opts.NetNS != "" {
		// nsenter enters only the network namespace and execs the agent,
		// so the PID is the agent's. Not `ip netns exec`: it also gives
		// the process a private mount namespace, so the pod network
		// namespaces the agent bind-mounts under /run/netns and the
		// containers' root filesystems would be invisible to the host
		// (the cleanup) and to the same agent after a restart (adoption).
		name, args = "nsenter", append([]string{"--net=" + netnsPath(a.Opts.NetNS), "--", name}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), a.Opts.Env...)
	if a.Opts.Token != "" {
		// As the systemd unit does: the token stays off the command line.
		cmd.Env = append(cmd.Env, "SHOAL_TOKEN="+a.Opts.Token)
	}
	// Its own process group, so a Ctrl-C of `go test` does not reach it
	// before the cleanup can remove its pods.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		a.t.Fatalf("start agent %s: %v", a.Opts.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	a.mu.Lock()
	a.cmd, a.exited = cmd, exited
	a.mu.Unlock()
}

// Running reports whether the agent process is alive.
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// PID is the agent's process ID (0 when stopped).
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil || a.cmd.Process == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// WaitReady waits until the agent's API answers and lists this node.
func (a *Agent) WaitReady() {
	a.t.Helper()
	poll.Until(a.t, AgentStartTimeout, "agent "+a.Opts.Name+" to be ready", func() (bool, string) {
		if !a.Running() {
			a.t.Fatalf("agent %s exited while starting; its log:\n%s", a.Opts.Name, tail(a.Log, 60))
		}
		r := a.Run("get", "nodes", "-o", "json")
		if r.Code != 0 {
			return false, fmt.Sprintf("agent %s API on %s: %s", a.Opts.Name, a.API, r.Err())
		}
		var l corev1.NodeList
		if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
			return false, fmt.Sprintf("get nodes -o json: %v", err)
		}
		for _, n := range l.Items {
			if n.Name == a.Opts.Name {
				return true, ""
			}
		}
		return false, fmt.Sprintf("node %s not listed yet", a.Opts.Name)
	})
}

// ContainerdSocket is the socket of the containerd the agent uses: the
// one given in Options, or the one it supervises under its data dir ("" if
// none is found there).
func (a *Agent) ContainerdSocket() string {
	if a.Opts.Containerd != "" {
		return a.Opts.Containerd
	}
	for _, pattern := range []string{"containerd.sock", "*/containerd.sock", "*/*/containerd.sock"} {
		if m, _ := filepath.Glob(filepath.Join(a.Opts.DataDir, pattern)); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// ContainerdPID is the process ID of the containerd the agent supervises
// (its child named containerd), 0 when it has none.
func (a *Agent) ContainerdPID() int {
	agent := a.PID()
	if agent == 0 {
		return 0
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if s[open+1:end] != "containerd" || len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == agent {
			pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
			return pid
		}
	}
	return 0
}

// RunningTasks counts the running containerd tasks in the agent's
// containerd namespace (ctr's view: what really runs, whatever the API
// says).
func (a *Agent) RunningTasks(t testing.TB, namespace string) (int, bool) {
	t.Helper()
	sock := a.ContainerdSocket()
	if sock == "" {
		return 0, false
	}
	// A restarted agent serves its API before it has restarted the
	// containerd it supervises: wait for that containerd to answer.
	var out []byte
	poll.Until(t, 30*time.Second, "containerd at "+sock+" to answer", func() (bool, string) {
		var err error
		out, err = exec.Command("ctr", "--address", sock, "--namespace", namespace, "tasks", "list").CombinedOutput()
		return err == nil, fmt.Sprintf("ctr tasks list: %v: %s", err, out)
	})
	return strings.Count(string(out), "RUNNING"), true
}

// Kill9 kills the agent with SIGKILL, as a crash would, and waits for it to
// be gone. Its pods' containers live on (their shims outlive the agent).
func (a *Agent) Kill9() {
	a.t.Helper()
	a.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

// Stop sends SIGTERM and waits up to the grace period, then kills.
func (a *Agent) Stop() {
	a.t.Helper()
	if !a.signalAndWait(syscall.SIGTERM, stopGrace) {
		a.t.Logf("agent %s did not stop in %v; killing it; its log ends:\n%s", a.Opts.Name, stopGrace, tail(a.Log, 25))
		a.signalAndWait(syscall.SIGKILL, 10*time.Second)
	}
}

func (a *Agent) signalAndWait(sig syscall.Signal, wait time.Duration) bool {
	a.mu.Lock()
	cmd, exited := a.cmd, a.exited
	a.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

// Restart starts the agent again with the same options (data dir, ports)
// and waits until it is ready. It must be stopped or killed first.
func (a *Agent) Restart() {
	a.t.Helper()
	if a.Running() {
		a.t.Fatalf("Restart of agent %s, which is still running: Kill9 or Stop it first", a.Opts.Name)
	}
	a.start()
	a.WaitReady()
}

func (a *Agent) cleanup() {
	t := a.t
	if t.Failed() {
		t.Logf("agent %s log (%s), last lines:\n%s", a.Opts.Name, a.Log, tail(a.Log, 150))
		keepLog(t, a.Log, a.Opts.Name)
	}
	if a.retired || a.Opts.NetNS != "" {
		// A cluster's agent (its Cluster removed the workloads first) or
		// one the test is done with: stop what is left by PID and path.
		a.teardown()
		return
	}
	// An agent a test killed (or that crashed) still owns pods; start it
	// again so it removes them the normal way.
	if !a.Running() {
		a.start()
		if ok, why := poll.Wait(AgentStartTimeout, func() (bool, string) {
			r := a.Run("get", "nodes")
			return r.Code == 0, r.Err()
		}); !ok {
			t.Logf("cleanup: agent %s did not come back (%s); stopping its leftovers by hand", a.Opts.Name, why)
		}
	}
	if a.Running() {
		a.removeEverything()
		a.Stop()
	}
	if a.Opts.Containerd == "" {
		killShimsUnder(t, a.Opts.DataDir)
	}
	testenv.UnmountUnder(t, a.Opts.DataDir)
	if a.tmpDir {
		if err := os.RemoveAll(a.Opts.DataDir); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
}

// Retire stops the agent (SIGTERM, then SIGKILL) if it runs and marks it
// done: its cleanup will not start it again to remove its pods.
func (a *Agent) Retire() {
	a.mu.Lock()
	a.retired = true
	a.mu.Unlock()
	if a.Running() {
		a.Stop()
	}
}

// teardown removes an agent without its help: the process by PID, then
// everything running from its data dir (its containerd, the shims and
// their containers) by PID, the pod network namespaces it created (named
// after the pod UIDs under its data dir), the mounts below the data dir,
// and the data dir.
func (a *Agent) teardown() {
	t := a.t
	if a.Running() {
		a.Stop()
	}
	killTree(t, a.Opts.DataDir)
	if a.Opts.Containerd == "" {
		killShimsUnder(t, a.Opts.DataDir)
	}
	removePodNetNS(t, a.Opts.DataDir)
	testenv.UnmountUnder(t, a.Opts.DataDir)
	if a.tmpDir {
		if err := os.RemoveAll(a.Opts.DataDir); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
}

// removeEverything deletes every workload, service and pod through the CLI
// and waits until the agent lists no pods.
func (a *Agent) removeEverything() { a.removeEverythingWithin(cleanupTimeout) }

// removeEverythingWithin is removeEverything waiting at most timeout.
func (a *Agent) removeEverythingWithin(timeout time.Duration) {
	for _, kind := range []string{"cronjobs", "jobs", "deployments", "statefulsets", "daemonsets", "replicasets", "services", "pods"} {
		r := a.Run("get", kind, "-A", "-o", "json")
		if r.Code != 0 {
			continue
		}
		var l struct {
			Items []struct {
				Metadata struct{ Name, Namespace string }
			}
		}
		if json.Unmarshal([]byte(r.Stdout), &l) != nil {
			continue
		}
		singular := strings.TrimSuffix(kind, "s")
		for _, it := range l.Items {
			args := []string{"delete", singular, it.Metadata.Name}
			if it.Metadata.Namespace != "" {
				args = append(args, "-n", it.Metadata.Namespace)
			}
			a.Run(args...)
		}
	}
	ok, _ := poll.Wait(timeout, poll.Bool(func() bool {
		r := a.Run("get", "pods", "-A", "-o", "json")
		var l corev1.PodList
		return r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &l) == nil && len(l.Items) == 0
	}))
	if !ok {
		a.t.Logf("cleanup: agent %s still lists pods after %v:\n%s", a.Opts.Name, timeout, a.Run("get", "pods", "-A", "-o", "wide").Stdout)
	}
}

// Result is one CLI invocation's outcome.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

// Err describes a failed invocation for messages.
func (r Result) Err() string {
	return fmt.Sprintf("shoal %s: exit %d: %s", strings.Join(r.Args, " "), r.Code, strings.TrimSpace(r.Stderr))
}

// Run runs the CLI against this agent (--addr) and returns what happened,
// without judging it: tests of failures look at Code and Stderr.
func (a *Agent) Run(args ...string) Result {
	return a.RunInput(nil, args...)
}

// RunInput is Run with stdin (for `apply -f -`).
func (a *Agent) RunInput(stdin []byte, args ...string) Result {
	return a.runCLI(nil, stdin, append(a.cliFlags(a.API), args...), args)
}

// RunInside runs the CLI inside the agent's network namespace against its
// API on loopback: the way to ask an agent whose link is cut what it
// believes.
func (a *Agent) RunInside(args ...string) Result {
	if a.Opts.NetNS == "" {
		return a.Run(args...)
	}
	full := append(a.cliFlags(net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Opts.APIPort))), args...)
	return a.runCLI([]string{"nsenter", "--net=" + netnsPath(a.Opts.NetNS), "--"}, nil, full, args)
}

// cliFlags address the agent at addr with the admin credentials it wrote
// for its host's root (the cluster CA and a token): the API trusts no
// client for being local.
func (a *Agent) cliFlags(addr string) []string {
	return []string{"--config", a.AdminConf(), "--addr", addr}
}

// RunAs runs the CLI against this agent with the credentials file conf
// instead of the agent's admin.conf.
func (a *Agent) RunAs(conf string, args ...string) Result {
	return a.runCLI(nil, nil, append([]string{"--config", conf, "--addr", a.API}, args...), args)
}

// Credentials writes a credentials file for the CLI: this cluster's CA
// (from the agent's admin.conf) with token, which may be empty.
func (a *Agent) Credentials(token string) string {
	a.t.Helper()
	b, err := os.ReadFile(a.AdminConf())
	if err != nil {
		a.t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "token:") {
			lines = append(lines, line)
		}
	}
	if token != "" {
		lines = append(lines, "token: "+token+"\n")
	}
	path := filepath.Join(a.t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		a.t.Fatal(err)
	}
	return path
}

// AdminConf is the root-only credentials file the agent writes.
func (a *Agent) AdminConf() string { return filepath.Join(a.Opts.DataDir, "admin.conf") }

// Token is the join token this agent was given (Options.Token) or, for
// the agent that created the cluster, the one it stored in its data dir
// ("" until it has).
func (a *Agent) Token() string {
	if a.Opts.Token != "" {
		return a.Opts.Token
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok == "" {
		if b, err := os.ReadFile(filepath.Join(a.Opts.DataDir, "join-token")); err == nil {
			a.tok = strings.TrimSpace(string(b))
		}
	}
	return a.tok
}

// runCLI runs the shoal binary with full (behind prefix, a command that
// execs it, when given) and reports it as args.
func (a *Agent) runCLI(prefix []string, stdin []byte, full, args []string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append(append(append([]string{}, prefix...), Binary(a.t)), full...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
		r.Stderr += err.Error()
	}
	return r
}

// Shoal runs the CLI and fails the test unless it exits 0; it returns
// stdout.
func (a *Agent) Shoal(t testing.TB, args ...string) string {
	t.Helper()
	r := a.Run(args...)
	if r.Code != 0 {
		t.Fatal(r.Err())
	}
	return r.Stdout
}

// ShoalJSON runs the CLI with -o json and decodes its output into v.
func (a *Agent) ShoalJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := a.Shoal(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("shoal %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Apply applies a manifest given as text (through stdin).
func (a *Agent) Apply(t testing.TB, manifest string) {
	t.Helper()
	r := a.RunInput([]byte(manifest), "apply", "-f", "-")
	if r.Code != 0 {
		t.Fatalf("%s\nmanifest:\n%s", r.Err(), manifest)
	}
}

// Pods lists the pods of the default namespace, Kubernetes-shaped.
func (a *Agent) Pods(t testing.TB) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	a.ShoalJSON(t, &l, "get", "pods")
	return l.Items
}

// Pod returns the named pod and whether it exists.
func (a *Agent) Pod(t testing.TB, name string) (corev1.Pod, bool) {
	t.Helper()
	for _, p := range a.Pods(t) {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.Pod{}, false
}

// Describe returns `shoal describe KIND NAME`.
func (a *Agent) Describe(t testing.TB, kind, name string) string {
	t.Helper()
	return a.Shoal(t, "describe", kind, name)
}

// Exec runs cmd in a container of a pod (container "" is the pod's first)
// and returns its combined output and exit code; it fails the test only if
// the CLI itself could not run.
func (a *Agent) Exec(t testing.TB, pod, container string, cmd ...string) (string, int) {
	t.Helper()
	args := []string{"exec", pod}
	if container != "" {
		args = append(args, "-c", container)
	}
	r := a.Run(append(append(args, "--"), cmd...)...)
	if r.Code < 0 {
		t.Fatal(r.Err())
	}
	return r.Stdout + r.Stderr, r.Code
}

// WaitPods waits until exactly n pods match sel (see Select) and all of
// them run and are Ready, and returns them.
func (a *Agent) WaitPods(t testing.TB, n int, sel func(corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var got []corev1.Pod
	poll.Until(t, PodTimeout, fmt.Sprintf("%d pods Running and Ready", n), func() (bool, string) {
		got = Select(a.Pods(t), sel)
		if len(got) != n {
			return false, fmt.Sprintf("want %d pods, have %d: %s", n, len(got), Summary(got))
		}
		for _, p := range got {
			if p.Status.Phase != corev1.PodRunning || !IsReady(p) {
				return false, fmt.Sprintf("not all Running and Ready: %s", Summary(got))
			}
		}
		return true, ""
	})
	return got
}

func kvList(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

// keepLog copies a failed test's agent log into $SHOAL_TEST_KEEP_LOGS,
// which outlives the test's temporary directory: the tail above is
// rarely enough to explain a failure seen once.
func keepLog(t testing.TB, path, name string) {
	dir := os.Getenv("SHOAL_TEST_KEEP_LOGS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	dst := filepath.Join(dir, strings.NewReplacer("/", "_").Replace(t.Name())+"-"+name+".log")
	if err == nil {
		err = os.WriteFile(dst, b, 0o600) // agent logs name nodes, addresses and callers
	}
	if err != nil {
		t.Logf("keep the log of agent %s: %v", name, err)
		return
	}
	t.Logf("agent %s log kept in %s", name, dst)
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
