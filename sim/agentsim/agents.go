package agentsim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"shoal/agent"
	"shoal/agent/apiclient"
	"shoal/consensus"
	"shoal/runtime/memrt"
	"shoal/sim/cpulabel"
)

// Every goroutine of an agent carries agentLabel=<its name>: goroutines
// inherit the labels of the one that starts them, and each agent is run
// under its own, so the CPU profiler's samples split the process's CPU by
// agent. What the simulation itself does runs under agentLabel=simLabel.
const (
	agentLabel = "agent"
	simLabel   = "(sim)"
)

// Each agent listens on its own loopback address (127.1.x.y, any of
// 127/8 reaches this host) on the same ports: no port is picked at random,
// so two agents can never race for one.
const (
	apiPort    = "7100"
	raftPort   = "7101"
	gossipPort = "7102"
	dnsPort    = "7103"
	podDNSPort = "7104"
)

// histLen bounds the marks an agent keeps: enough to answer a watch for
// any change of the last seconds.
const histLen = 256

// mark is when an agent's state reached an index.
type mark struct {
	index uint64
	at    time.Time
}

// simAgent is one agent run in this process.
type simAgent struct {
	i    int
	name string
	cfg  agent.Config
	rt   *memrt.Runtime

	ready chan struct{}
	// exited is closed when the agent's run returned err.
	exited chan struct{}
	err    error
	cancel context.CancelFunc
	// stopped is set once the simulation stopped it on purpose.
	stopped atomic.Bool
	store   atomic.Pointer[consensus.Store]

	mu   sync.Mutex
	hist []mark
}

// addr is agent i's loopback address.
func addr(i int) string {
	return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
}

func newSimAgent(i int, dir string, base agent.Config, join []string, token string) (*simAgent, error) {
	name := fmt.Sprintf("sim-%04d", i)
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	ip := addr(i)
	a := &simAgent{i: i, name: name, rt: memrt.New(data), ready: make(chan struct{}), exited: make(chan struct{})}
	cfg := base
	cfg.Name, cfg.DataDir, cfg.Bind = name, data, ip
	cfg.Join, cfg.Token = join, token
	cfg.APIAddr = net.JoinHostPort(ip, apiPort)
	cfg.RaftAddr = net.JoinHostPort(ip, raftPort)
	cfg.GossipAddr = net.JoinHostPort(ip, gossipPort)
	cfg.DNSAddr = net.JoinHostPort(ip, dnsPort)
	cfg.Ready = func() { close(a.ready) }
	cfg.Opened = a.opened
	a.cfg = cfg
	return a, nil
}

// start runs the agent under its label until ctx ends or stop.
func (a *simAgent) start(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(ctx)
	cpulabel.Go(agentLabel, a.name, func() {
		a.err = agent.RunInMemory(ctx, a.cfg, a.rt, net.JoinHostPort(addr(a.i), podDNSPort))
		close(a.exited)
	})
}

// stop ends the agent as a crash looks to the others: it leaves neither
// gossip nor Raft (only its sockets close), and waits for it to end.
func (a *simAgent) stop(timeout time.Duration) error {
	a.stopped.Store(true)
	a.cancel()
	select {
	case <-a.exited:
		return a.err
	case <-time.After(timeout):
		return fmt.Errorf("agent %s did not stop within %v", a.name, timeout)
	}
}

// opened watches the agent's state from the moment its store is open,
// in a goroutine of the simulation's own.
func (a *simAgent) opened(s *consensus.Store) {
	a.store.Store(s)
	cpulabel.Go(agentLabel, simLabel, func() { a.watch(s) })
}

// watch records when the state reached each index until the store
// the agent exits.
func (a *simAgent) watch(s *consensus.Store) {
	for {
		ch := s.Changed()
		idx := s.State().Index()
		now := time.Now()
		a.mu.Lock()
		if n := len(a.hist); n == 0 || a.hist[n-1].index < idx {
			if n == histLen {
				a.hist = append(a.hist[:0], a.hist[1:]...)
			}
			a.hist = append(a.hist, mark{idx, now})
		}
		a.mu.Unlock()
		select {
		case <-ch:
		case <-a.exited:
			return
		}
	}
}

// seenAt is when the agent's state first reached idx; zero if not yet.
func (a *simAgent) seenAt(idx uint64) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	i := sort.Search(len(a.hist), func(i int) bool { return a.hist[i].index >= idx })
	if i == len(a.hist) {
		return time.Time{}
	}
	return a.hist[i].at
}

// client is an admin client of this agent's API with creds.
func (a *simAgent) client(creds *apiclient.Credentials) (*apiclient.Client, error) {
	conf, err := creds.TLS()
	if err != nil {
		return nil, err
	}
	return apiclient.NewClient(a.cfg.APIAddr, creds.Token, conf), nil
}

// logger writes the agents' warnings and errors (or all of it at
// debug) to path, tagged with each agent's name.
func logger(path string, level slog.Level) (*slog.Logger, func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("agent log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), f.Close, nil
}

// joinTokenOf reads the join token the first agent wrote.
func joinTokenOf(a *simAgent) (string, error) {
	b, err := os.ReadFile(filepath.Join(a.cfg.DataDir, "join-token"))
	if err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
