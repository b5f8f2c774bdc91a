package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/runtime/memrt"
)

// fakeDaemon is a supervised containerd held in memory: it "exits" when a
// test says so, and its restarts succeed or fail as the test scripts.
type fakeDaemon struct {
	mu     sync.Mutex
	exited chan struct{}
	down   bool
	// restartErr says how restart n (from 1) ends; nil: they succeed.
	restartErr func(n int) error
	restarts   []time.Time // every attempt
	kills      int
}

func newFakeDaemon() *fakeDaemon { return &fakeDaemon{exited: make(chan struct{})} }

func (d *fakeDaemon) Exited() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.exited
}

// exit makes the current process exit (a kill -9).
func (d *fakeDaemon) exit() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.down {
		d.down = true
		close(d.exited)
	}
}

func (d *fakeDaemon) Kill() {
	d.mu.Lock()
	d.kills++
	d.mu.Unlock()
	d.exit()
}

func (d *fakeDaemon) Restart(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restarts = append(d.restarts, time.Now())
	if d.restartErr != nil {
		if err := d.restartErr(len(d.restarts)); err != nil {
			return err
		}
	}
	d.down = false
	d.exited = make(chan struct{})
	return nil
}

// healthy is the runtime's probe: it fails while the daemon is down.
func (d *fakeDaemon) healthy(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return errors.New("dial unix containerd.sock: connection refused")
	}
	return nil
}

func (d *fakeDaemon) attempts() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.restarts)
}

// healthRun is a runtimeHealth running on fakes, recording what it
// reported.
type healthRun struct {
	h     *runtimeHealth
	mu    sync.Mutex
	seen  []bool // readiness reports
	fatal error
	done  chan struct{}
}

func fastLimits() healthLimits {
	return healthLimits{
		Every: 10 * time.Millisecond, Timeout: 50 * time.Millisecond,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond,
		GiveUpAfter: time.Hour, GiveUpRestarts: 1000, StableFor: time.Hour,
	}
}

func runHealth(t *testing.T, limits healthLimits, probe func(context.Context) error, d runtimeDaemon) *healthRun {
	t.Helper()
	r := &healthRun{done: make(chan struct{})}
	r.h = newRuntimeHealth(limits, probe, d,
		func(ready bool, _ string) { r.mu.Lock(); r.seen = append(r.seen, ready); r.mu.Unlock() },
		func(err error) { r.mu.Lock(); r.fatal = err; r.mu.Unlock() },
		testLogger())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(r.done); r.h.run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *healthRun) reports() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func (r *healthRun) fatalErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

// TestRuntimeHealthRestartsWithBackoff: containerd exits; the runtime is
// not ready at once; restarts fail three times, waiting twice as long
// before each next one up to the maximum; the fourth succeeds and the
// runtime is ready again. Nothing is fatal.
func TestRuntimeHealthRestartsWithBackoff(t *testing.T) {
	d := newFakeDaemon()
	d.restartErr = func(n int) error {
		if n <= 3 {
			return fmt.Errorf("restart %d: containerd exited at start", n)
		}
		return nil
	}
	lim := fastLimits()
	r := runHealth(t, lim, d.healthy, d)
	time.Sleep(30 * time.Millisecond)
	if got := r.reports(); len(got) != 0 || !r.h.isReady() {
		t.Fatalf("reports %v before anything happened, ready %v", got, r.h.isReady())
	}
	died := time.Now()
	d.exit()
	poll.Until(t, 5*time.Second, "not ready", func() (bool, string) { return !r.h.isReady(), "" })
	poll.Until(t, 5*time.Second, "ready again", func() (bool, string) {
		return r.h.isReady(), fmt.Sprint("reports ", r.reports(), " attempts ", len(d.attempts()))
	})
	if got := r.reports(); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("reports %v, want [false true]", got)
	}
	at := d.attempts()
	if len(at) != 4 {
		t.Fatalf("%d restart attempts, want 4", len(at))
	}
	// Waits before each attempt: 20, 40, 80, 80 ms (capped).
	prev := died
	for i, want := range []time.Duration{20, 40, 80, 80} {
		if gap := at[i].Sub(prev); gap < want*time.Millisecond {
			t.Errorf("attempt %d after %v, want at least %v", i+1, gap, want*time.Millisecond)
		}
		prev = at[i]
	}
	if err := r.fatalErr(); err != nil {
		t.Errorf("fatal: %v", err)
	}

	// Another exit much later (StableFor passed): the back-off starts over.
	r.h.limits.StableFor = 0 // read only by run, which is blocked on Exited now
	d.mu.Lock()
	d.restartErr = nil
	d.mu.Unlock()
	died = time.Now()
	d.exit()
	poll.Until(t, 5*time.Second, "restarted again", func() (bool, string) { return len(d.attempts()) == 5 && r.h.isReady(), "" })
	if gap := d.attempts()[4].Sub(died); gap > 70*time.Millisecond {
		t.Errorf("the next outage's first restart waited %v, want the base back-off", gap)
	}
}

// TestRuntimeHealthGivesUp: restarts that keep failing for longer than
// GiveUpAfter, at least GiveUpRestarts of them, stop the agent with
// errRuntimeLost; a containerd that dies right after each restart counts
// as a failed restart.
func TestRuntimeHealthGivesUp(t *testing.T) {
	for _, crashLoop := range []bool{false, true} {
		t.Run(fmt.Sprintf("crashloop=%v", crashLoop), func(t *testing.T) {
			d := newFakeDaemon()
			if !crashLoop {
				d.restartErr = func(int) error { return errors.New("containerd: config is broken") }
			}
			lim := fastLimits()
			lim.BackoffMax = 20 * time.Millisecond
			lim.GiveUpRestarts, lim.GiveUpAfter = 4, 200*time.Millisecond
			r := runHealth(t, lim, d.healthy, d)
			start := time.Now()
			d.exit()
			if crashLoop {
				go func() {
					for {
						select {
						case <-r.done:
							return
						case <-time.After(time.Millisecond):
							d.exit() // dies as soon as it is up
						}
					}
				}()
			}
			select {
			case <-r.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the monitor did not give up")
			}
			err := r.fatalErr()
			if !errors.Is(err, errRuntimeLost) {
				t.Fatalf("fatal %v, want errRuntimeLost", err)
			}
			if took := time.Since(start); took < lim.GiveUpAfter || len(d.attempts()) < lim.GiveUpRestarts {
				t.Errorf("gave up after %v and %d restarts; want at least %v and %d", took, len(d.attempts()), lim.GiveUpAfter, lim.GiveUpRestarts)
			}
			if r.h.isReady() {
				t.Error("ready after giving up")
			}
			t.Logf("gave up with: %v", err)
		})
	}
}

// TestRuntimeHealthProbes: a runtime that stops answering (calls time out)
// is not ready after NotReadyAfter probes and ready again once it answers.
// One the agent does not supervise is only reported on; its own is killed
// after HungAfter probes, and restarted.
func TestRuntimeHealthProbes(t *testing.T) {
	var (
		mu   sync.Mutex
		hung bool
	)
	probe := func(ctx context.Context) error {
		mu.Lock()
		h := hung
		mu.Unlock()
		if h {
			<-ctx.Done() // a hung containerd: the call runs into its deadline
			return ctx.Err()
		}
		return nil
	}
	setHung := func(v bool) { mu.Lock(); hung = v; mu.Unlock() }
	lim := fastLimits()
	lim.NotReadyAfter, lim.HungAfter = 2, 4

	t.Run("external", func(t *testing.T) {
		r := runHealth(t, lim, probe, nil)
		setHung(true)
		poll.Until(t, 5*time.Second, "not ready", func() (bool, string) { return !r.h.isReady(), "" })
		time.Sleep(10 * lim.Timeout) // well past HungAfter: nothing to kill, nothing fatal
		setHung(false)
		poll.Until(t, 5*time.Second, "ready", func() (bool, string) { return r.h.isReady(), "" })
		if got := r.reports(); !slices.Equal(got, []bool{false, true}) || r.fatalErr() != nil {
			t.Errorf("reports %v, fatal %v", got, r.fatalErr())
		}
	})
	t.Run("supervised", func(t *testing.T) {
		d := newFakeDaemon()
		setHung(true)
		r := runHealth(t, lim, probe, d)
		poll.Until(t, 5*time.Second, "killed", func() (bool, string) {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.kills == 1, ""
		})
		setHung(false) // the restarted one answers
		poll.Until(t, 5*time.Second, "restarted and ready", func() (bool, string) {
			return len(d.attempts()) == 1 && r.h.isReady(), fmt.Sprint(r.reports())
		})
		if got := r.reports(); !slices.Equal(got, []bool{false, true}) || r.fatalErr() != nil {
			t.Errorf("reports %v, fatal %v", got, r.fatalErr())
		}
	})
}

// TestAgentRuntimeRestartNodeNotReady runs a whole agent whose supervised
// containerd (a fake) dies: the node shows NotReady, its pod keeps
// running untouched, containerd is restarted and the node is Ready again.
// Then containerd dies for good and the agent stops with an error.
func TestAgentRuntimeRestartNodeNotReady(t *testing.T) {
	hp := func() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))) }
	dir := t.TempDir()
	cfg := Config{
		Name: "solo", DataDir: dir, Bind: "127.0.0.1",
		APIAddr: hp(), RaftAddr: hp(), GossipAddr: hp(), DNSAddr: hp(),
		GossipProfile: "test", DeadGrace: 2 * time.Second, Lease: 2 * time.Second,
		Logger: testLogger(),
		runtimeHealth: healthLimits{
			Every: 50 * time.Millisecond, BackoffBase: time.Second, BackoffMax: time.Second,
			GiveUpRestarts: 3, GiveUpAfter: time.Second,
		},
	}
	d := newFakeDaemon()
	rt := memrt.New(dir)
	rt.SetHealthy(d.healthy)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &memMachine{rt: rt, podDNS: hp(), daemon: d}) }()
	a := &testAgent{cfg: cfg}
	c := a.client(t)
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(wctx, []api.File{{Name: "pods.yaml", Data: fmt.Sprintf(twoPods, "solo", "solo")}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "both pods Running", func() (bool, string) {
		got := podPhases(t, c)
		return got == "one@solo=Running,two@solo=Running", got
	})
	nodeStatus := func() (cluster.NodeStatus, string) {
		l, err := c.Nodes(wctx)
		if err != nil || len(l.Items) != 1 {
			return "", fmt.Sprint(l, err)
		}
		return l.Items[0].Node.Status, string(l.Items[0].Node.Status)
	}
	poll.Until(t, 20*time.Second, "node Ready", func() (bool, string) {
		s, why := nodeStatus()
		return s == cluster.NodeReady, why
	})

	d.exit()
	poll.Until(t, 20*time.Second, "node NotReady while containerd is down", func() (bool, string) {
		s, why := nodeStatus()
		return s == cluster.NodeNotReady, why
	})
	poll.Until(t, 20*time.Second, "node Ready after the restart", func() (bool, string) {
		s, why := nodeStatus()
		return s == cluster.NodeReady, why
	})
	if n := len(d.attempts()); n != 1 {
		t.Errorf("%d restarts, want 1", n)
	}
	if got, want := rt.Running(), []string{"one/app", "two/app", "two/side"}; !slices.Equal(got, want) {
		t.Errorf("runtime runs %v, want %v", got, want)
	}
	if got := podPhases(t, c); got != "one@solo=Running,two@solo=Running" {
		t.Errorf("pods %s after the restart", got)
	}

	// Down for good: the agent stops, and says why.
	d.mu.Lock()
	d.restartErr = func(int) error { return errors.New("containerd: exit status 1") }
	d.mu.Unlock()
	d.exit()
	select {
	case err := <-done:
		if !errors.Is(err, errRuntimeLost) || !strings.Contains(err.Error(), "restarts in a row failed") {
			t.Fatalf("agent stopped with %v, want errRuntimeLost", err)
		}
		t.Logf("the agent stopped with: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not stop")
	}
}
