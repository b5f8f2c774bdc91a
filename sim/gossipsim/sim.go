// Package gossipsim runs N members of Shoal's real gossip layer (package
// gossip over hashicorp/memberlist, encrypted UDP and TCP on loopback) in
// one process and measures what matters at scale: how long the cluster
// takes to form, how long until a crashed member is seen dead by the
// others, how fast a metadata change spreads, and what an idle member
// costs in CPU and traffic. `make sim` runs it (cmd: sim/cmd/gossipsim).
//
// Every member holds the state of every other, so memory grows as N²; the
// heap per member in the results tells how far one machine goes.
package gossipsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"shoal/cluster"
	"shoal/gossip"
	"shoal/sim/spread"
)

// Options configure one run.
type Options struct {
	N int
	// Profile is the gossip profile (gossip.ProfileLAN by default: what
	// agents run).
	Profile string
	// BindAddr is the loopback address every member binds, on its own port.
	BindAddr string
	// Network is NetUDP (default: memberlist's UDP and TCP on loopback, as
	// agents run it) or NetMem (an in-process network, for N beyond what
	// the machine's cores carry over sockets; see memNet).
	Network string
	// Settle is the wait after forming before the idle measurement, so the
	// join broadcasts have drained; Idle is the measurement's length.
	Settle, Idle time.Duration
	// PhaseTimeout bounds forming, detection and the meta change each.
	PhaseTimeout time.Duration
	// Starters is how many members start and join at once.
	Starters int
	// JoinRate paces the joins, in members a second (0: as fast as the
	// starters go). Agents join a large cluster over minutes, not all in
	// one burst: every join is an alive message each member relays about
	// 4·log10(N) times, so a burst of N joins costs N² such relays at once,
	// and on a machine short of cores the members it starves miss probes
	// and suspect each other, which costs more broadcasts still.
	JoinRate float64
	// Dilation, above 1, runs every member's protocol that many times
	// slower (gossip.Config.TimeScale): probes, timeouts, gossip and
	// push/pull, and this run's waits and join rate with them. Two cores
	// then carry what 2·Dilation would in real time. The results are put
	// back in real time: phase times divided by it, idle CPU and traffic
	// per second multiplied by it (time dilation, as network emulators
	// use it to stand in for faster hardware).
	Dilation float64
	// Logger receives the members' logs (default: errors only, to stderr).
	Logger *slog.Logger
	// Progress receives one line per phase (nil: none).
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.N < 3 {
		return fmt.Errorf("gossipsim: N %d: want at least 3 (one to kill, one to change, one to watch)", o.N)
	}
	if o.Profile == "" {
		o.Profile = gossip.ProfileLAN
	}
	if o.BindAddr == "" {
		o.BindAddr = "127.0.0.1"
	}
	switch o.Network {
	case "":
		o.Network = NetUDP
	case NetUDP, NetMem:
	default:
		return fmt.Errorf("gossipsim: network %q: want %q or %q", o.Network, NetUDP, NetMem)
	}
	if o.Settle == 0 {
		o.Settle = 10 * time.Second
	}
	if o.Idle == 0 {
		o.Idle = 20 * time.Second
	}
	if o.PhaseTimeout == 0 {
		o.PhaseTimeout = 5 * time.Minute
	}
	if o.Starters == 0 {
		o.Starters = 8
	}
	if o.JoinRate < 0 {
		return fmt.Errorf("gossipsim: join rate %v: want 0 (unpaced) or more", o.JoinRate)
	}
	switch {
	case o.Dilation == 0:
		o.Dilation = 1
	case o.Dilation < 1:
		return fmt.Errorf("gossipsim: dilation %v: want 1 (real time) or more", o.Dilation)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// The networks a run can use (Options.Network).
const (
	NetUDP = "udp"
	NetMem = "mem"
)

// member is one simulated node and what it has seen; its event loop fills
// the fields, the phases read them.
type member struct {
	name  string
	addr  string
	g     *gossip.Gossip
	alive atomic.Int64 // members it sees alive, itself included
	// recounted is when formed last counted Members() (UnixNano).
	recounted atomic.Int64
	// When it saw the victim dead and the meta change, in UnixNano.
	deadAt, metaAt atomic.Int64
	done           chan struct{} // its event loop ended
}

// sim is one run's shared state.
type sim struct {
	opt     Options
	members []*member
	victim  string  // the member that crashes
	changer string  // the member whose meta changes
	version string  // the changed meta's Version, which marks the change
	net     *memNet // with NetMem

	falseDead, falseSuspect atomic.Int64
}

// Run starts opt.N members, measures, and stops them all.
func Run(ctx context.Context, opt Options) (Result, error) {
	if err := opt.defaults(); err != nil {
		return Result{}, err
	}
	sink := &trafficSink{}
	if err := installSink(sink); err != nil {
		return Result{}, fmt.Errorf("gossipsim: install metrics sink: %w", err)
	}
	meta := SimMeta(0)
	b, err := meta.Encode()
	if err != nil {
		return Result{}, fmt.Errorf("gossipsim: encode the members' meta: %w", err)
	}
	s := &sim{opt: opt, victim: memberName(opt.N - 1), changer: memberName(1), version: meta.Version + "-changed"}
	if opt.Network == NetMem {
		s.net = &memNet{}
	}
	defer s.stopAll()
	r := Result{N: opt.N, Profile: opt.Profile, Network: opt.Network, Dilation: opt.Dilation, MetaBytes: len(b)}
	if err := s.form(ctx, &r); err != nil {
		return r, err
	}
	if err := s.idle(ctx, sink, &r); err != nil {
		return r, err
	}
	if err := s.crash(ctx, &r); err != nil {
		return r, err
	}
	if err := s.changeMeta(ctx, &r); err != nil {
		return r, err
	}
	r.FalseDead, r.FalseSuspect = s.falseDead.Load(), s.falseSuspect.Load()
	for _, m := range s.members {
		r.Dropped += m.g.Dropped()
	}
	if s.net != nil {
		r.Lost = s.net.lost.Load()
	}
	return r, nil
}

func memberName(i int) string { return "sim-" + strconv.Itoa(i) }

// wall is how long a span of the members' time d lasts on this machine's
// clock; memberTime turns a span measured on it back into the members' time.
func (s *sim) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.opt.Dilation)
}

func (s *sim) memberTime(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.opt.Dilation)
}

// SimMeta is a realistic large node's meta: 8 GPUs with a long model
// name, a zone label among many labels, an IPv6 address and pod range, a
// long development version. Every member carries one like it.
func SimMeta(i int) gossip.NodeMeta {
	labels := map[string]string{gossip.TopologyLabel: "europe-west4-a", "node.kubernetes.io/instance-type": "a3-highgpu-8g"}
	for j := range 30 {
		labels["example.com/feature-"+strconv.Itoa(j)] = "enabled"
	}
	gpus := make([]cluster.GPU, 8)
	for j := range gpus {
		gpus[j] = cluster.GPU{Index: j, Model: "NVIDIA H100 80GB HBM3", MemoryBytes: 80 << 30}
	}
	ip := fmt.Sprintf("fd00:10:20:30:40:50:%x:%x", i>>16, i&0xffff)
	return gossip.MetaFromNode(&cluster.Node{
		Address: ip, APIAddr: "[" + ip + "]:7948", RaftAddr: "[" + ip + "]:7947", DNSAddr: "[" + ip + "]:53",
		Labels:       labels,
		Allocatable:  cluster.Resources{MilliCPU: 206000, Memory: 1843 << 30, EphemeralStorage: 6 << 40, GPU: 8},
		GPUs:         gpus,
		PodCIDR:      fmt.Sprintf("fd00:244:%x::/64", i),
		Raft:         cluster.RaftNonvoter,
		AgentVersion: "v1.4.2-118-g3f9c2ab1-dirty",
	})
}

// form starts every member, each joining up to three random members that
// started before it, and waits until every member sees all N alive.
func (s *sim) form(ctx context.Context, r *Result) error {
	key, err := gossip.NewKey()
	if err != nil {
		return err
	}
	start := time.Now()
	s.members = make([]*member, s.opt.N)
	var (
		mu      sync.Mutex
		started []string
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	// The first member starts alone, so every other has a seed: members
	// started at once with none would form separate clusters.
	first, err := s.startMember(ctx, 0, key, nil)
	if err != nil {
		return err
	}
	started = append(started, first.addr)
	next.Store(1)
	var pace <-chan time.Time
	if s.opt.JoinRate > 0 {
		t := time.NewTicker(s.wall(time.Duration(float64(time.Second) / s.opt.JoinRate)))
		defer t.Stop()
		pace = t.C
	}
	for range s.opt.Starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if pace != nil {
					select {
					case <-pace:
					case <-ctx.Done():
						return
					}
				}
				i := int(next.Add(1) - 1)
				if i >= s.opt.N || ctx.Err() != nil {
					return
				}
				mu.Lock()
				seeds := pickSeeds(started, 3)
				mu.Unlock()
				m, err := s.startMember(ctx, i, key, seeds)
				if err != nil {
					errOnce.Do(func() { firstEr = err })
					return
				}
				mu.Lock()
				started = append(started, m.addr)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstEr != nil {
		return firstEr
	}
	r.Join = s.memberTime(time.Since(start))
	fmt.Fprintf(s.opt.Progress, "N=%d: %d members started and joined in %v\n", s.opt.N, s.opt.N, r.Join.Round(time.Millisecond))
	err = s.waitFor(ctx, "every member sees all alive", s.formed, "")
	r.Form = s.memberTime(time.Since(start))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	r.HeapPerMember = ms.HeapInuse / uint64(s.opt.N)
	r.RSS = rss()
	fmt.Fprintf(s.opt.Progress, "N=%d: formed in %v; heap %d MiB (%d KiB a member), RSS %d MiB\n",
		s.opt.N, r.Form.Round(time.Millisecond), ms.HeapInuse>>20, r.HeapPerMember>>10, r.RSS>>20)
	return err
}

// formed reports whether m sees all N members alive: from its events, or
// else from Members(), the truth the package tells consumers to
// resynchronise from.
func (s *sim) formed(m *member) bool {
	if m.alive.Load() == int64(s.opt.N) {
		return true
	}
	// The count from events can be off (an event buffer that overflowed,
	// a member seen dead and back in an order the count does not follow),
	// so Members() decides. It copies every member: counting it for every
	// member on every poll costs N² a poll, which at 1,000 members starved
	// the very members being measured. Once a second each is enough.
	now := time.Now().UnixNano()
	if now-m.recounted.Load() < int64(time.Second) {
		return false
	}
	m.recounted.Store(now)
	alive := 0
	for _, x := range m.g.Members() {
		if x.State == gossip.StateAlive || x.State == gossip.StateSuspect {
			alive++
		}
	}
	if alive == s.opt.N {
		m.alive.Store(int64(alive))
		return true
	}
	return false
}

// pickSeeds returns up to k distinct random addresses of from.
func pickSeeds(from []string, k int) []string {
	if len(from) <= k {
		return append([]string(nil), from...)
	}
	out := make([]string, 0, k)
	for _, i := range rand.Perm(len(from))[:k] {
		out = append(out, from[i])
	}
	return out
}

func (s *sim) startMember(ctx context.Context, i int, key []byte, seeds []string) (*member, error) {
	cfg := gossip.Config{
		NodeName: memberName(i), BindAddr: s.opt.BindAddr, BindPort: gossip.EphemeralPort,
		Keys: [][]byte{key}, Meta: SimMeta(i), Profile: s.opt.Profile, Logger: s.opt.Logger, TimeScale: s.opt.Dilation,
		// A join storm brings N joins and updates at once; a starved
		// event loop must not lose them (formed falls back if it does).
		EventBuffer: max(1024, 4*s.opt.N),
		// The meta change's spread is the measurement: a broadcast slow
		// to leave shows in it, rather than failing the run at 5 s.
		UpdateTimeout: s.wall(s.opt.PhaseTimeout),
	}
	if s.net != nil {
		cfg.Transport = s.net.transport()
	}
	g, err := gossip.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start member %d: %w", i, err)
	}
	m := &member{name: memberName(i), addr: g.LocalNode().Addr, g: g, done: make(chan struct{})}
	s.members[i] = m
	go s.events(m)
	if len(seeds) > 0 {
		jctx, cancel := context.WithTimeout(ctx, s.wall(time.Minute))
		defer cancel()
		if _, err := g.Join(jctx, seeds); err != nil {
			return nil, fmt.Errorf("member %d join %v: %w", i, seeds, err)
		}
	}
	return m, nil
}

// events keeps m's view: how many it sees alive, when it saw the crash and
// the meta change, and any member it wrongly declared dead or suspect.
func (s *sim) events(m *member) {
	defer close(m.done)
	for e := range m.g.Events() {
		switch e.Type {
		case gossip.EventJoin:
			m.alive.Add(1)
		case gossip.EventFail, gossip.EventLeave:
			m.alive.Add(-1)
			if e.Member.Name == s.victim {
				m.deadAt.CompareAndSwap(0, time.Now().UnixNano())
			} else {
				s.falseDead.Add(1)
			}
		case gossip.EventSuspect:
			if e.Member.Name != s.victim {
				s.falseSuspect.Add(1)
			}
		case gossip.EventUpdate:
			if e.Member.Name == s.changer && e.Member.Meta.Version == s.version {
				m.metaAt.CompareAndSwap(0, time.Now().UnixNano())
			}
		}
	}
}

// waitFor polls until ok holds for every member but skip, or the phase
// times out.
func (s *sim) waitFor(ctx context.Context, what string, ok func(*member) bool, skip string) error {
	ctx, cancel := context.WithTimeout(ctx, s.wall(s.opt.PhaseTimeout))
	defer cancel()
	// The phases' times come from the members' events, not from this
	// poll, except the time to form, which takes seconds.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// A large N takes minutes: say how far it got now and then.
	report := time.Now().Add(10 * time.Second)
	for {
		pending := 0
		for _, m := range s.members {
			if m.name != skip && !ok(m) {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(report) {
			fmt.Fprintf(s.opt.Progress, "N=%d: waiting until %s: %d members not there yet%s\n", s.opt.N, what, pending, s.laggards(ok, skip))
			report = time.Now().Add(10 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gossipsim: N=%d: wait until %s: %d members still not there: %w", s.opt.N, what, pending, ctx.Err())
		case <-tick.C:
		}
	}
}

// laggards describes, when only a few members are not there yet, what
// each of them sees: the members it does not count alive, by state. A
// run that stalls on one member says why.
func (s *sim) laggards(ok func(*member) bool, skip string) string {
	var late []*member
	for _, m := range s.members {
		if m.name != skip && !ok(m) {
			late = append(late, m)
		}
	}
	if len(late) > 3 {
		return ""
	}
	var b strings.Builder
	for _, m := range late {
		seen := map[string]gossip.State{}
		for _, x := range m.g.Members() {
			seen[x.Name] = x.State
		}
		var missing []string
		for _, x := range s.members {
			if st, ok := seen[x.name]; !ok {
				missing = append(missing, x.name+" unknown")
			} else if st != gossip.StateAlive && st != gossip.StateSuspect {
				missing = append(missing, fmt.Sprintf("%s %v", x.name, st))
			}
		}
		if len(missing) == 0 {
			fmt.Fprintf(&b, "; %s: %d events alive, sees every member alive", m.name, m.alive.Load())
			continue
		}
		fmt.Fprintf(&b, "; %s: %d events alive, misses %s", m.name, m.alive.Load(), strings.Join(missing[:min(len(missing), 5)], ", "))
	}
	return b.String()
}

// idle measures the formed cluster at rest: CPU of the whole process and
// what memberlist sent, per member and second.
func (s *sim) idle(ctx context.Context, sink *trafficSink, r *Result) error {
	if err := sleep(ctx, s.wall(s.opt.Settle)); err != nil {
		return err
	}
	cpu0, t0, at0 := cpuTime(), sink.snapshot(), time.Now()
	if err := sleep(ctx, s.wall(s.opt.Idle)); err != nil {
		return err
	}
	// Per second of the members' time, which passed Dilation times slower.
	cpu1, t1, secs := cpuTime(), sink.snapshot(), s.memberTime(time.Since(at0)).Seconds()
	n := float64(s.opt.N)
	r.IdleCores = (cpu1 - cpu0).Seconds() / secs
	r.PacketsPerMember = float64(t1.udpPackets-t0.udpPackets) / secs / n
	r.BytesPerMember = float64(t1.udpBytes-t0.udpBytes+t1.tcpBytes-t0.tcpBytes) / secs / n
	r.PushPullsPerSec = float64(t1.tcpConnects-t0.tcpConnects) / secs
	fmt.Fprintf(s.opt.Progress, "N=%d: idle %.0fs: %.2f cores, %.1f packets/s and %.0f B/s a member, %.1f push/pulls/s\n",
		s.opt.N, secs, r.IdleCores, r.PacketsPerMember, r.BytesPerMember, r.PushPullsPerSec)
	return nil
}

// crash shuts the victim down without leaving, as a crash or a cut link
// would, and times until the others see it dead.
func (s *sim) crash(ctx context.Context, r *Result) error {
	v := s.members[s.opt.N-1]
	at := time.Now()
	if err := v.g.Shutdown(); err != nil {
		return fmt.Errorf("gossipsim: crash %s: %w", v.name, err)
	}
	err := s.waitFor(ctx, v.name+" is seen dead", func(m *member) bool { return m.deadAt.Load() != 0 }, v.name)
	r.Detect = s.spread(at, func(m *member) int64 { return m.deadAt.Load() }, v.name)
	fmt.Fprintf(s.opt.Progress, "N=%d: crash seen dead by %d/%d: p50 %s p99 %s all %s\n",
		s.opt.N, r.Detect.Seen, r.Detect.Of, spread.Secs(r.Detect.P50), spread.Secs(r.Detect.P99), r.Detect.Full(spread.Secs))
	return tolerateTimeout(err)
}

// changeMeta changes one member's meta and times until the others, the
// crashed one aside, see the change.
func (s *sim) changeMeta(ctx context.Context, r *Result) error {
	c := s.members[1]
	meta := SimMeta(1)
	meta.Version = s.version
	meta.RuntimeNotReady = true
	at := time.Now()
	if err := c.g.UpdateMeta(meta); err != nil {
		return fmt.Errorf("gossipsim: update %s's meta: %w", c.name, err)
	}
	skip := func(m *member) bool { return m.name == c.name || m.name == s.victim }
	err := s.waitFor(ctx, "the meta change is seen", func(m *member) bool { return skip(m) || m.metaAt.Load() != 0 }, c.name)
	r.Meta = s.spread(at, func(m *member) int64 {
		if m.name == s.victim {
			return -1
		}
		return m.metaAt.Load()
	}, c.name)
	fmt.Fprintf(s.opt.Progress, "N=%d: meta change seen by %d/%d: p50 %s p99 %s all %s\n",
		s.opt.N, r.Meta.Seen, r.Meta.Of, spread.Secs(r.Meta.P50), spread.Secs(r.Meta.P99), r.Meta.Full(spread.Secs))
	return tolerateTimeout(err)
}

// spread collects when each member but skip saw a change (at returns 0 for
// not seen, -1 for a member that does not count).
func (s *sim) spread(since time.Time, at func(*member) int64, skip string) spread.Spread {
	var seen []time.Duration
	of := 0
	for _, m := range s.members {
		t := at(m)
		if m.name == skip || t < 0 {
			continue
		}
		of++
		if t > 0 {
			seen = append(seen, s.memberTime(time.Unix(0, t).Sub(since)))
		}
	}
	return spread.Of(seen, of)
}

// tolerateTimeout keeps a phase's partial result: a change not seen by all
// is a finding (the table shows seen/of), not a failed run.
func tolerateTimeout(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// stopAll shuts every member down, a few at a time.
func (s *sim) stopAll() {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, m := range s.members {
		if m == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = m.g.Shutdown() // the run is over; a failed shutdown only leaks sockets until exit
			<-m.done
		}()
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
