// Package agentsim runs N real agents in this process and measures the
// cluster they make. Each agent is agent.RunInMemory: Raft, gossip, the
// state stream, the API, DNS and the node reconciler as `shoal agent`
// runs them, with pods held in memory (runtime/memrt) instead of
// containerd, on its own loopback address. It reports how long the
// cluster takes to form, what the leader, the other Raft members and the
// clients cost while idle (the process's CPU split by agent, see
// sim/cpulabel), how long a change takes to reach 99% of the agents, how
// long N×k pods take to run, and what a lost client and a lost leader
// cost. `make sim` runs it (cmd: sim/cmd/agentsim).
//
// CPU bounds N here: every agent does all of its own work, so N agents
// cost N real agents' idle CPU on this machine's cores. sim/statesim
// takes the state stream to 5,000 followers by simulating less.
package agentsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"shoal/agent"
	"shoal/agent/apiclient"
	"shoal/sim/spread"
)

// Options configure one run.
type Options struct {
	// N is the agents; PodsPerNode the Deployment's pods per agent.
	N, PodsPerNode int
	// JoinParallel is how many agents join at once.
	JoinParallel int
	// Settle is the wait before the idle window, Idle its length.
	Settle, Idle time.Duration
	// Markers is how many times a change's spread is timed.
	Markers int
	// GossipProfile, NodeDownAfter and DeadGrace are the agents' flags
	// (empty or zero: the agent's defaults).
	GossipProfile            string
	NodeDownAfter, DeadGrace time.Duration
	// Dir holds the agents' data dirs and their log (a temporary
	// directory by default).
	Dir string
	// CPUProfile, when set, is where the idle window's CPU profile is
	// written (samples labelled agent=<name>: go tool pprof -tagfocus).
	CPUProfile string
	LogLevel   slog.Level
	Progress   io.Writer
}

func (o *Options) defaults() error {
	if o.N < 1 {
		return fmt.Errorf("agentsim: N %d: want at least 1 agent", o.N)
	}
	if o.N > 250*250 {
		return fmt.Errorf("agentsim: N %d: at most %d agents have a loopback address", o.N, 250*250)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.PodsPerNode, 3)
	def(&o.JoinParallel, 8)
	def(&o.Markers, 5)
	if o.Settle == 0 {
		o.Settle = 10 * time.Second
	}
	if o.Idle == 0 {
		o.Idle = 30 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Result is one run's figures; CPU is in percent of one core.
type Result struct {
	N                         int
	Voters, Replicas, Clients int
	// Form is from the first agent's start until every agent is Ready
	// in the state and Raft's membership has settled.
	Form time.Duration
	// Idle: the leader's CPU, the other members' and the clients' (mean
	// and max), the whole process's, and Raft entries a second.
	Leader         float64
	Member, Client spread.Group
	Process        float64
	// Other is the CPU no agent's goroutine was sampled in: the Go
	// runtime's (the garbage collector, the scheduler, the network
	// poller) shared by all of them, and the simulation's own.
	Other   float64
	Entries float64
	// HeapMiB is the Go heap and stacks in use per agent.
	HeapMiB float64
	// Change is how long a write through the API takes to show in the
	// agents' states (the median of each quantile over the markers).
	Change spread.Spread
	// Pods is the Deployment's pods; PodsRunning how long from the apply
	// until the state shows them all Running; DNSAnswers the headless
	// Service's A records a client agent's DNS answers with, each the
	// IP of a pod its node's runtime holds.
	Pods        int
	PodsRunning time.Duration
	DNSAnswers  int
	// NodeLoss: a client agent with pods is stopped; NotReady is until
	// the state says so, Moved the pods it ran, PodsBack until they all
	// run elsewhere.
	NotReady, PodsBack time.Duration
	Moved              int
	// Failover: the leader is stopped; Write is until a write through
	// another agent succeeds, Seen how long that write took to show on
	// the agents left.
	Write time.Duration
	Seen  spread.Spread
}

// sim is one run's agents.
type sim struct {
	opt    Options
	log    *slog.Logger
	agents []*simAgent
	creds  *apiclient.Credentials
	api    *apiclient.Client // the first agent's, or a survivor's once it is stopped
	start  time.Time
}

// Run runs N agents, measures them, and stops them.
func Run(ctx context.Context, opt Options) (Result, error) {
	if err := opt.defaults(); err != nil {
		return Result{}, err
	}
	if opt.Dir == "" {
		dir, err := os.MkdirTemp("", "agentsim-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		opt.Dir = dir
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("agentsim: %w", err)
	}
	log, closeLog, err := logger(filepath.Join(opt.Dir, "agents.log"), opt.LogLevel)
	if err != nil {
		return Result{}, err
	}
	defer closeLog()
	s := &sim{opt: opt, log: log}
	defer s.stopAll()
	res := Result{N: opt.N}
	steps := []struct {
		what string
		f    func(context.Context, *Result) error
	}{
		{"form", s.form}, {"idle", s.idle}, {"change", s.changes}, {"pods", s.pods},
		{"node loss", s.nodeLoss}, {"failover", s.failover},
	}
	for _, st := range steps {
		fmt.Fprintf(opt.Progress, "agentsim: N=%d: %s\n", opt.N, st.what)
		if err := st.f(ctx, &res); err != nil {
			return res, fmt.Errorf("agentsim: N=%d: %s: %w (agents' log: %s)", opt.N, st.what, err, filepath.Join(opt.Dir, "agents.log"))
		}
	}
	return res, nil
}

// base is every agent's configuration before its name and addresses.
func (s *sim) base() agent.Config {
	return agent.Config{
		Logger: s.log, Console: io.Discard, GossipProfile: s.opt.GossipProfile,
		NodeDownAfter: s.opt.NodeDownAfter, DeadGrace: s.opt.DeadGrace,
		// A /24 a node for up to 16,384 of them.
		ClusterCIDR: "10.64.0.0/10",
		// Agents share this machine's cores: sampling each one's
		// node every 10 s would be N samplings of the same host (30 s is the most
		// the agent takes).
		MetricsInterval: 30 * time.Second,
	}
}

// stopAll stops every agent still running.
func (s *sim) stopAll() {
	for _, a := range s.agents {
		if a.cancel != nil && !a.stopped.Load() {
			a.stopped.Store(true)
			a.cancel()
		}
	}
	for _, a := range s.agents {
		if a.cancel != nil {
			select {
			case <-a.exited:
			case <-time.After(30 * time.Second):
				s.log.Warn("agentsim: agent did not stop", "agent", a.name)
			}
		}
	}
}

// live is the agents not stopped on purpose.
func (s *sim) live() []*simAgent {
	var out []*simAgent
	for _, a := range s.agents {
		if !a.stopped.Load() {
			out = append(out, a)
		}
	}
	return out
}

// spreadOf waits until every live agent's state reached idx (or timeout)
// and sums up how long after t0 each did.
func (s *sim) spreadOf(ctx context.Context, idx uint64, t0 time.Time, timeout time.Duration) (spread.Spread, error) {
	deadline := time.Now().Add(timeout)
	for {
		live := s.live()
		seen := make([]time.Duration, 0, len(live))
		for _, a := range live {
			if at := a.seenAt(idx); !at.IsZero() {
				seen = append(seen, max(at.Sub(t0), 0))
			}
		}
		if len(seen) == len(live) || time.Now().After(deadline) {
			return spread.Of(seen, len(live)), nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return spread.Spread{}, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heapPerAgent is the Go heap and stacks in use, per agent, in MiB.
func heapPerAgent(n int) float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse+ms.StackInuse) / float64(n) / (1 << 20)
}

// errTimeout: a phase's condition did not hold in time.
var errTimeout = errors.New("timed out")
