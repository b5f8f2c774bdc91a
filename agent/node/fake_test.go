package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/pullauth"
	"shoal/runtime/rtapi"
)

// fakeClock is real time plus an offset a test can jump forward.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// call is one recorded runtime call.
type call struct {
	op        string
	uid       string
	container string
	attempt   int
	grace     time.Duration
	cmd       string                // Exec
	creds     []pullauth.Credential // PullImage
	at        time.Time
}

// exitSpec makes a started container exit at once.
type exitSpec struct {
	code int32
	oom  bool
}

// fakeRuntime holds pods in memory and records every call.
type fakeRuntime struct {
	clock  *fakeClock
	events chan rtapi.Event
	lists  atomic.Int64
	// listsStall, when set, makes ListPods wait until its context ends
	// (a listing that takes forever); PodState still answers.
	listsStall atomic.Bool
	// during, when set, runs outside the lock in EnsureSandbox and
	// StartContainer (to see how many run at once).
	during func()

	mu      sync.Mutex
	pods    map[string]*rtapi.PodState
	calls   []call
	pullErr map[string]error
	// onStart, when set, says whether a started container exits at once.
	onStart func(pod *cluster.Pod, c cluster.Container, attempt int) *exitSpec
	// exec answers probe commands: exit code, or an error.
	exec func(uid, container string, cmd []string) (int, error)
	// execCtx, when set, answers instead of exec, and may block until
	// ctx ends (a hook that hangs).
	execCtx func(ctx context.Context, uid, container string, cmd []string) (int, error)
	// execs records every Exec, apart from calls (probes exec often).
	execs []call
	// listErr, when set, is what ListPods fails with (containerd down).
	listErr error
	// storage is what PodStorage reports, per pod UID.
	storage map[string]rtapi.PodStorage
	// started is the container each StartContainer was given, by pod UID
	// and name (its env resolved); volumes what WriteVolume wrote, by pod
	// UID and volume.
	started map[string]cluster.Container
	volumes map[string][]rtapi.VolumeFile
	// usage is a container's memory use, by pod UID and name: an
	// UpdateResources to a lower limit is refused.
	usage map[string]int64
}

func newFakeRuntime(clock *fakeClock) *fakeRuntime {
	return &fakeRuntime{
		clock: clock, events: make(chan rtapi.Event, 1000),
		pods: map[string]*rtapi.PodState{}, pullErr: map[string]error{},
		started: map[string]cluster.Container{}, volumes: map[string][]rtapi.VolumeFile{},
	}
}

func (f *fakeRuntime) record(c call) {
	c.at = time.Now()
	f.calls = append(f.calls, c)
}

func (f *fakeRuntime) EnsureSandbox(ctx context.Context, pod *cluster.Pod) (*rtapi.PodSandbox, error) {
	if f.during != nil {
		f.during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "EnsureSandbox", uid: pod.UID})
	p := f.pods[pod.UID]
	if p == nil {
		p = &rtapi.PodState{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name}
		f.pods[pod.UID] = p
	}
	if p.Sandbox == nil {
		p.Sandbox = &rtapi.PodSandbox{UID: pod.UID, IP: "127.0.0.1", NetNSPath: "/run/netns/" + pod.UID}
	}
	sb := *p.Sandbox
	return &sb, nil
}

func (f *fakeRuntime) PullImage(ctx context.Context, image, policy string, creds ...pullauth.Credential) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "PullImage", container: image, creds: creds})
	return f.pullErr[image]
}

func (f *fakeRuntime) StartContainer(ctx context.Context, pod *cluster.Pod, sb *rtapi.PodSandbox, c cluster.Container, attempt int) error {
	if f.during != nil {
		f.during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "StartContainer", uid: pod.UID, container: c.Name, attempt: attempt})
	p := f.pods[pod.UID]
	if p == nil || sb == nil {
		return errors.New("no sandbox")
	}
	f.started[pod.UID+"/"+c.Name] = c.Clone()
	cs := rtapi.ContainerState{
		Name: c.Name, ID: pod.UID + "-" + c.Name, Generation: pod.TemplateHash, Attempt: attempt,
		Running: true, StartedAt: f.clock.Now(), Image: c.Image,
		Resources: &cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits},
	}
	if f.onStart != nil {
		if e := f.onStart(pod, c, attempt); e != nil {
			cs.Running, cs.Exited, cs.ExitCode, cs.OOMKilled, cs.FinishedAt = false, true, e.code, e.oom, f.clock.Now()
		}
	}
	i := slices.IndexFunc(p.Containers, func(x rtapi.ContainerState) bool { return x.Name == c.Name })
	if i < 0 {
		p.Containers = append(p.Containers, cs)
	} else {
		p.Containers[i] = cs
	}
	return nil
}

func (f *fakeRuntime) WriteVolume(ctx context.Context, pod *cluster.Pod, volume string, files []rtapi.VolumeFile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "WriteVolume", uid: pod.UID, container: volume})
	if p := f.pods[pod.UID]; p == nil || p.Sandbox == nil {
		return errors.New("no sandbox")
	}
	f.volumes[pod.UID+"/"+volume] = slices.Clone(files)
	return nil
}

func (f *fakeRuntime) StopContainer(ctx context.Context, podUID, container string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "StopContainer", uid: podUID, container: container, grace: grace})
	f.exitLocked(podUID, container, 137, false)
	return nil
}

func (f *fakeRuntime) RemovePod(ctx context.Context, podUID string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "RemovePod", uid: podUID, grace: grace})
	delete(f.pods, podUID)
	return nil
}

func (f *fakeRuntime) UpdateResources(ctx context.Context, podUID string, c cluster.Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "UpdateResources", uid: podUID, container: c.Name})
	p := f.pods[podUID]
	if p == nil {
		return errors.New("no pod")
	}
	i := slices.IndexFunc(p.Containers, func(x rtapi.ContainerState) bool { return x.Name == c.Name && x.Running })
	if i < 0 {
		return errors.New("container not running")
	}
	if u := f.usage[podUID+"/"+c.Name]; c.Limits.Memory > 0 && u > c.Limits.Memory {
		return &rtapi.ResizeBelowUsageError{Limit: c.Limits.Memory, Usage: u}
	}
	p.Containers[i].Resources = &cluster.AppliedResources{Requests: c.Requests, Limits: c.Limits}
	return nil
}

func (f *fakeRuntime) setUsage(uid, container string, bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.usage == nil {
		f.usage = map[string]int64{}
	}
	f.usage[uid+"/"+container] = bytes
}

func (f *fakeRuntime) ListPods(ctx context.Context) ([]rtapi.PodState, error) {
	if f.listsStall.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	f.lists.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []rtapi.PodState
	for _, p := range f.pods {
		c := *p
		c.Containers = slices.Clone(p.Containers)
		if p.Sandbox != nil {
			sb := *p.Sandbox
			c.Sandbox = &sb
		}
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeRuntime) PodState(ctx context.Context, uid string) (*rtapi.PodState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	p := f.pods[uid]
	if p == nil {
		return nil, nil
	}
	c := *p
	c.Containers = slices.Clone(p.Containers)
	if p.Sandbox != nil {
		sb := *p.Sandbox
		c.Sandbox = &sb
	}
	return &c, nil
}

func (f *fakeRuntime) Exec(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error) {
	f.mu.Lock()
	exec, execCtx := f.exec, f.execCtx
	f.execs = append(f.execs, call{op: "Exec", uid: podUID, container: container, cmd: strings.Join(cmd, " "), at: time.Now()})
	f.mu.Unlock()
	switch {
	case execCtx != nil:
		code, err := execCtx(ctx, podUID, container, cmd)
		return rtapi.ExecResult{ExitCode: code}, err
	case exec != nil:
		code, err := exec(podUID, container, cmd)
		return rtapi.ExecResult{ExitCode: code}, err
	}
	return rtapi.ExecResult{}, nil
}

func (f *fakeRuntime) PodStorage(ctx context.Context, pod *cluster.Pod) (rtapi.PodStorage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "PodStorage", uid: pod.UID})
	return f.storage[pod.UID], nil
}

// setStorage makes PodStorage report u for pod uid.
func (f *fakeRuntime) setStorage(uid string, u rtapi.PodStorage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.storage == nil {
		f.storage = map[string]rtapi.PodStorage{}
	}
	f.storage[uid] = u
}

func (f *fakeRuntime) Events(ctx context.Context) <-chan rtapi.Event { return f.events }

// exit ends a running container as if it died, and says so in an event.
func (f *fakeRuntime) exit(uid, container string, code int32, oom bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exitLocked(uid, container, code, oom)
}

func (f *fakeRuntime) exitLocked(uid, container string, code int32, oom bool) {
	p := f.pods[uid]
	if p == nil {
		return
	}
	for i := range p.Containers {
		c := &p.Containers[i]
		if c.Name == container && c.Running {
			c.Running, c.Exited, c.ExitCode, c.OOMKilled, c.FinishedAt = false, true, code, oom, f.clock.Now()
			select {
			case f.events <- rtapi.Event{PodUID: uid, Container: container}:
			default:
			}
		}
	}
}

// put pre-populates the runtime, as containerd would be after an agent
// restart.
func (f *fakeRuntime) put(p rtapi.PodState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[p.UID] = &p
}

func (f *fakeRuntime) container(uid, name string) (rtapi.ContainerState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.pods[uid]; p != nil {
		for _, c := range p.Containers {
			if c.Name == name {
				return c, true
			}
		}
	}
	return rtapi.ContainerState{}, false
}

func (f *fakeRuntime) has(uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pods[uid] != nil
}

// execsOf returns the recorded Execs of cmd.
func (f *fakeRuntime) execsOf(cmd string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.execs {
		if c.cmd == cmd {
			out = append(out, c)
		}
	}
	return out
}

// callsOf returns the recorded calls with op (all when op is "").
func (f *fakeRuntime) callsOf(op string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if op == "" || c.op == op {
			out = append(out, c)
		}
	}
	return out
}

// fakeSource is the FSM: a state and a change signal.
type fakeSource struct {
	mu  sync.Mutex
	st  *cluster.State
	idx uint64
	ch  chan struct{}
}

func newFakeSource() *fakeSource {
	return &fakeSource{st: cluster.Empty(), ch: make(chan struct{}, 1)}
}

func (s *fakeSource) State() *cluster.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *fakeSource) Changed() <-chan struct{} { return s.ch }

func (s *fakeSource) update(f func(txn *cluster.Txn)) {
	s.mu.Lock()
	s.idx++
	txn := s.st.Txn(s.idx)
	f(txn)
	s.st = txn.Commit()
	s.mu.Unlock()
	poke(s.ch)
}

func (s *fakeSource) putPod(p *cluster.Pod) { s.update(func(t *cluster.Txn) { t.PutPod(p) }) }

// modify changes a stored pod through a copy, as the leader would.
func (s *fakeSource) modify(ns, name string, f func(p *cluster.Pod)) {
	s.update(func(t *cluster.Txn) {
		old, ok := t.Pod(ns, name)
		if !ok {
			return
		}
		p := old.Clone()
		f(p)
		t.PutPod(p)
	})
}

func (s *fakeSource) pod(name string) *cluster.Pod {
	p, _ := s.State().Pod(cluster.DefaultNamespace, name)
	return p
}

// fakeReporter plays the leader: it applies statuses to the source, unless
// lose says the update is lost on the way.
type fakeReporter struct {
	src      *fakeSource
	failing  atomic.Bool // the leader is unreachable
	failures atomic.Int64

	mu      sync.Mutex
	batches [][]cluster.PodStatusUpdate
	seen    []cluster.PodStatusUpdate // every update, in order
	lose    func(cluster.PodStatusUpdate) bool
}

func (r *fakeReporter) ReportStatus(ctx context.Context, node string, updates []cluster.PodStatusUpdate) error {
	if r.failing.Load() {
		r.failures.Add(1)
		return errors.New("no leader")
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(updates))
	r.seen = append(r.seen, updates...)
	lose := r.lose
	r.mu.Unlock()
	r.src.update(func(t *cluster.Txn) {
		for _, u := range updates {
			if lose != nil && lose(u) {
				continue
			}
			old, ok := t.Pod(u.Ref.Namespace, u.Ref.Name)
			if !ok || old.UID != u.Ref.UID {
				continue
			}
			p := old.Clone()
			p.Status = u.Status.Clone()
			t.PutPod(p)
		}
	})
	return nil
}

func (r *fakeReporter) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.batches)
}

// sawStatus reports whether any update for pod matched f.
func (r *fakeReporter) sawStatus(uid string, f func(cluster.PodStatus) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.seen {
		if u.Ref.UID == uid && f(u.Status) {
			return true
		}
	}
	return false
}

// harness runs a Reconciler against the fakes with every timer shrunk.
type harness struct {
	t     *testing.T
	clock *fakeClock
	rt    *fakeRuntime
	src   *fakeSource
	rep   *fakeReporter
}

// start runs a reconciler; setup runs before it starts (to pre-populate
// the runtime or the state), cfg tweaks the config.
func start(t *testing.T, setup func(h *harness), cfg func(c *Config)) *harness {
	t.Helper()
	clock := &fakeClock{}
	h := &harness{t: t, clock: clock, rt: newFakeRuntime(clock), src: newFakeSource()}
	h.rep = &fakeReporter{src: h.src}
	if setup != nil {
		setup(h)
	}
	c := Config{
		NodeName: "n1", NodeAddress: "192.0.2.1",
		Runtime: h.rt, Source: h.src, Reporter: h.rep, Clock: clock,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		ReportInterval: 5 * time.Millisecond, ResyncInterval: 30 * time.Millisecond,
		ProbeSecond: 10 * time.Millisecond,
	}
	if cfg != nil {
		cfg(&c)
	}
	r := New(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return h
}

// waitFor polls cond until it holds, failing the test after a while with
// the runtime calls so far: they show what the node did instead.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	poll.Until(h.t, 10*time.Second, what, func() (bool, string) {
		if cond() {
			return true, ""
		}
		return false, fmt.Sprint("calls: ", h.rt.callsOf(""))
	})
}

// status returns the status of pod name as the state shows it.
func (h *harness) status(name string) cluster.PodStatus {
	if p := h.src.pod(name); p != nil {
		return p.Status
	}
	return cluster.PodStatus{}
}

func (h *harness) ctrStatus(pod, container string) cluster.ContainerStatus {
	for _, c := range h.status(pod).Containers {
		if c.Name == container {
			return c
		}
	}
	return cluster.ContainerStatus{}
}

// settle waits for n more runtime listings, so a test can assert that
// nothing happened without sleeping and hoping.
func (h *harness) settle(n int64) {
	h.t.Helper()
	target := h.rt.lists.Load() + n
	h.waitFor("listings", func() bool { return h.rt.lists.Load() >= target })
}

// newPod returns a pod placed on n1 with containers named after names.
func newPod(name string, names ...string) *cluster.Pod {
	p := &cluster.Pod{
		Namespace: cluster.DefaultNamespace, Name: name, UID: name + "-uid", Ordinal: -1,
		TemplateHash: "h1", NodeName: "n1",
	}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, cluster.Container{Name: n, Image: "registry.local/" + n + ":1"})
	}
	return p
}

func startsOf(calls []call, uid string) []string {
	var out []string
	for _, c := range calls {
		if c.op == "StartContainer" && c.uid == uid {
			out = append(out, c.container)
		}
	}
	return out
}

func joined(s []string) string { return strings.Join(s, ",") }
