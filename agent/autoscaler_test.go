package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"shoal/autoscale"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/metrics"
)

// fakeStore applies the autoscaler's two commands to its state, so
// that syncs follow each other as on a leader.
type fakeStore struct {
	mu      sync.Mutex
	st      *cluster.State
	applied []consensus.Command
}

func (f *fakeStore) State() *cluster.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}
func (f *fakeStore) Changed() <-chan struct{} { return make(chan struct{}) }
func (f *fakeStore) Apply(_ context.Context, cmds ...consensus.Command) ([]consensus.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := f.st.Txn(f.st.Index() + 1)
	for _, c := range cmds {
		switch c := c.(type) {
		case *consensus.PutWorkload:
			tx.PutWorkload(c.Workload)
		case *consensus.PutObjects:
			for _, o := range c.Objects {
				tx.PutObject(o)
			}
		default:
			return nil, fmt.Errorf("unexpected command %T", c)
		}
	}
	f.st = tx.Commit()
	f.applied = append(f.applied, cmds...)
	return make([]consensus.Result, len(cmds)), nil
}

// hpaFixture: a Deployment of n pods requesting 100m cpu each, on node
// a, and an autoscaler for it (target 50%, 1 to 4, scale-down window
// 30 s, one pod per 10 s).
func hpaFixture(n int, start time.Time) *cluster.State {
	win := int32(30)
	tx := cluster.Empty().Txn(1)
	tx.PutNode(&cluster.Node{Name: "a", Status: cluster.NodeReady})
	wl := &cluster.Workload{Kind: cluster.KindDeployment, Namespace: "default", Name: "web", UID: "uid-web", Replicas: int32(n),
		Selector: map[string]string{"app": "web"}, Template: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Requests: cluster.Resources{MilliCPU: 100}}}}}
	tx.PutWorkload(wl)
	for i := range n {
		tx.PutPod(&cluster.Pod{Namespace: "default", Name: fmt.Sprintf("web-%d", i), UID: fmt.Sprintf("uid-%d", i), NodeName: "a",
			Labels: map[string]string{"app": "web"}, Owner: &cluster.OwnerRef{Kind: cluster.KindDeployment, Name: "web", UID: "uid-web"},
			Spec: wl.Template, Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, StartedAt: start}})
	}
	tx.PutObject(&cluster.Object{Kind: cluster.KindHorizontalPodAutoscaler, Namespace: "default", Name: "web", UID: "uid-hpa",
		Autoscaler: &cluster.Autoscaler{TargetKind: cluster.KindDeployment, TargetName: "web", MinReplicas: 1, MaxReplicas: 4,
			Metrics:   []cluster.AutoscalerMetric{{Resource: cluster.CPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 50}},
			ScaleDown: &cluster.ScalingRules{StabilizationWindowSeconds: &win, Policies: []cluster.ScalingPolicy{{Type: cluster.PodsScalingPolicy, Value: 1, PeriodSeconds: 10}}}}})
	return tx.Commit()
}

func TestAutoscalerUnitSync(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &fakeStore{st: hpaFixture(2, t0.Add(-10*time.Minute))}
	var mu sync.Mutex
	var cpu int64
	var fetchErr error
	now := t0
	u := &autoscalerUnit{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now },
		fetch: func(*cluster.State) metrics.Fetch {
			return func(_ context.Context, node string) (metrics.Report, error) {
				mu.Lock()
				defer mu.Unlock()
				r := metrics.Report{Node: node}
				for _, uid := range []string{"uid-0", "uid-1"} {
					r.Pods = append(r.Pods, metrics.PodUsage{Namespace: "default", UID: uid, At: now, Window: 10 * time.Second,
						Containers: []metrics.ContainerUsage{{Name: "c", Usage: metrics.Usage{MilliCPU: cpu}}}})
				}
				return r, fetchErr
			}
		}}
	u.history, u.readiness = map[string]*autoscale.History{}, map[string]readiness{}
	steps := []struct {
		at       time.Duration
		cpu      int64
		fail     bool
		want     int32
		wantCond string // a condition the status must hold: "Type=Status/Reason"
		decided  int
	}{
		// 100% of the request against 50%: 4, the maximum.
		{at: 0, cpu: 100, want: 4, wantCond: "AbleToScale=True/SucceededRescale", decided: 1},
		// Idle: the 30 s window still holds the recommendation of 4.
		{at: 15 * time.Second, cpu: 5, want: 4, wantCond: "AbleToScale=True/ScaleDownStabilized", decided: 1},
		// Past the window: down, one pod per 10 s.
		{at: 50 * time.Second, cpu: 5, want: 3, wantCond: "ScalingLimited=True/ScaleDownLimit", decided: 2},
		{at: 55 * time.Second, cpu: 5, want: 3, wantCond: "ScalingLimited=True/ScaleDownLimit", decided: 2},
		{at: 65 * time.Second, cpu: 5, want: 2, decided: 3},
		// No metrics: nothing changes, and ScalingActive says why.
		{at: 80 * time.Second, fail: true, want: 2, wantCond: "ScalingActive=False/FailedGetResourceMetric", decided: 3},
	}
	for _, s := range steps {
		mu.Lock()
		now, cpu, fetchErr = t0.Add(s.at), s.cpu, nil
		if s.fail {
			fetchErr = fmt.Errorf("connection refused")
		}
		mu.Unlock()
		u.syncAll(context.Background())
		st := store.State()
		status := hpaStatus(st)
		if got := replicasOf(st); got != s.want || status == nil || status.DesiredReplicas != s.want || len(status.Decisions) != s.decided {
			t.Fatalf("at %v: replicas %d, status %+v; want %d and %d decisions", s.at, got, status, s.want, s.decided)
		}
		if s.wantCond != "" && !hasCondition(status, s.wantCond) {
			t.Fatalf("at %v: conditions %+v, want %s", s.at, status.Conditions, s.wantCond)
		}
	}
	d := hpaStatus(store.State()).Decisions
	if d[0].From != 2 || d[0].To != 4 || d[0].Reason != "cpu resource utilization (percentage of request) above target" ||
		!strings.HasPrefix(d[1].Reason, "All metrics below target") || !strings.Contains(d[1].Reason, "ScaleDownLimit") {
		t.Errorf("decisions %+v", d)
	}
}

// A missing target and a target at zero replicas are reported, and
// nothing is scaled.
func TestAutoscalerUnitTarget(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		edit func(tx *cluster.Txn, st *cluster.State)
		want string
	}{
		{"missing", func(tx *cluster.Txn, st *cluster.State) { tx.DeleteWorkload(cluster.KindDeployment, "default", "web") }, "AbleToScale=False/FailedGetScale"},
		{"zero", func(tx *cluster.Txn, st *cluster.State) {
			wl, _ := st.Workload(cluster.KindDeployment, "default", "web")
			wl = wl.Clone()
			wl.Replicas = 0
			tx.PutWorkload(wl)
		}, "ScalingActive=False/ScalingDisabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := hpaFixture(1, t0)
			tx := st.Txn(2)
			c.edit(tx, st)
			store := &fakeStore{st: tx.Commit()}
			u := &autoscalerUnit{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return t0 },
				fetch: func(*cluster.State) metrics.Fetch {
					return func(context.Context, string) (metrics.Report, error) { return metrics.Report{}, nil }
				},
				history: map[string]*autoscale.History{}, readiness: map[string]readiness{}}
			u.syncAll(context.Background())
			if s := hpaStatus(store.State()); !hasCondition(s, c.want) || len(store.applied) != 1 {
				t.Fatalf("status %+v, commands %v", s, store.applied)
			}
			// Nothing new: nothing written.
			u.syncAll(context.Background())
			if len(store.applied) != 1 {
				t.Errorf("an unchanged status was written again")
			}
		})
	}
}

func hasCondition(s *cluster.AutoscalerStatus, want string) bool {
	if s == nil {
		return false
	}
	for _, c := range s.Conditions {
		if c.Type+"="+c.Status+"/"+c.Reason == want {
			return true
		}
	}
	return false
}

func replicasOf(st *cluster.State) int32 {
	wl, _ := st.Workload(cluster.KindDeployment, "default", "web")
	return wl.Replicas
}

func hpaStatus(st *cluster.State) *cluster.AutoscalerStatus {
	o, _ := st.Object(cluster.KindHorizontalPodAutoscaler, "default", "web")
	return o.Autoscaler.Status
}

// A manual scale of an autoscaled workload is overridden at the next
// sync, as in Kubernetes: down while busy, or above maxReplicas.
func TestAutoscalerUnitOverridesManualScale(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &fakeStore{st: hpaFixture(2, t0.Add(-10*time.Minute))}
	now := t0
	cpu := int64(50)
	u := &autoscalerUnit{store: store, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now },
		fetch: func(*cluster.State) metrics.Fetch {
			return func(_ context.Context, node string) (metrics.Report, error) {
				r := metrics.Report{Node: node}
				for _, uid := range []string{"uid-0", "uid-1"} {
					r.Pods = append(r.Pods, metrics.PodUsage{Namespace: "default", UID: uid, At: now, Window: 10 * time.Second,
						Containers: []metrics.ContainerUsage{{Name: "c", Usage: metrics.Usage{MilliCPU: cpu}}}})
				}
				return r, nil
			}
		},
		history: map[string]*autoscale.History{}, readiness: map[string]readiness{}}
	scale := func(n int32) {
		st := store.State()
		wl, _ := st.Workload(cluster.KindDeployment, "default", "web")
		wl = wl.Clone()
		wl.Replicas = n
		if _, err := store.Apply(context.Background(), &consensus.PutWorkload{Workload: wl}); err != nil {
			t.Fatal(err)
		}
	}
	// At target (50%): 2 stays 2.
	u.syncAll(context.Background())
	if got := replicasOf(store.State()); got != 2 {
		t.Fatalf("at target: %d replicas", got)
	}
	for _, c := range []struct {
		cpu          int64
		manual, want int32
	}{
		{cpu: 50, manual: 9, want: 4},  // above maxReplicas: back to 4 at once
		{cpu: 100, manual: 1, want: 4}, // busy: up again as the load needs
	} {
		now, cpu = now.Add(20*time.Second), c.cpu
		scale(c.manual)
		u.syncAll(context.Background())
		if got := replicasOf(store.State()); got != c.want {
			t.Errorf("scaled by hand to %d: the autoscaler set %d, want %d", c.manual, got, c.want)
		}
	}
}

// The pods' inputs per metric: cpu and memory from the containers'
// usage and requests, nvidia.com/gpu from the GPUs' NVML utilization
// (a pod holding GPUs counts 100 as its "request").
func TestMetricInput(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pod := func(name string, req cluster.Resources) *cluster.Pod {
		return &cluster.Pod{Name: name, UID: "uid-" + name, NodeName: "a", Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Requests: req}}},
			Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, StartedAt: t0.Add(-time.Hour)}}
	}
	gpuPods := []*cluster.Pod{pod("g0", cluster.Resources{GPU: 1, MilliCPU: 500}), pod("g1", cluster.Resources{GPU: 2, MilliCPU: 500})}
	usage := map[string]metrics.PodUsage{
		"uid-g0": {UID: "uid-g0", At: t0, Window: 10 * time.Second, GPUs: []metrics.GPUUsage{{ID: "0", UtilizationPercent: 90}},
			Containers: []metrics.ContainerUsage{{Name: "c", Usage: metrics.Usage{MilliCPU: 100, MemoryBytes: 64 << 20}}}},
		"uid-g1": {UID: "uid-g1", At: t0, Window: 10 * time.Second, GPUs: []metrics.GPUUsage{{ID: "1", UtilizationPercent: 100}, {ID: "2", UtilizationPercent: 80}},
			Containers: []metrics.ContainerUsage{{Name: "c", Usage: metrics.Usage{MilliCPU: 300, MemoryBytes: 32 << 20}}}},
	}
	cases := []struct {
		name     string
		metric   cluster.AutoscalerMetric
		pods     []*cluster.Pod
		want     int32
		wantUtil int32
		wantErr  bool
	}{
		{name: "gpu busy 90% against 45%", metric: cluster.AutoscalerMetric{Resource: cluster.GPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 45},
			pods: gpuPods, want: 4, wantUtil: 90},
		{name: "gpu within tolerance", metric: cluster.AutoscalerMetric{Resource: cluster.GPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 85},
			pods: gpuPods, want: 2, wantUtil: 90},
		{name: "cpu utilization", metric: cluster.AutoscalerMetric{Resource: cluster.CPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 20},
			pods: gpuPods, want: 4, wantUtil: 40},
		{name: "memory average value", metric: cluster.AutoscalerMetric{Resource: cluster.MemoryResource, TargetType: cluster.AverageValueTarget, AverageValue: 16 << 20},
			pods: gpuPods, want: 6},
		{name: "gpu without GPU requests", metric: cluster.AutoscalerMetric{Resource: cluster.GPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 50},
			pods: []*cluster.Pod{pod("g0", cluster.Resources{MilliCPU: 500})}, wantErr: true},
		{name: "memory utilization without memory requests", metric: cluster.AutoscalerMetric{Resource: cluster.MemoryResource, TargetType: cluster.UtilizationTarget, AverageUtilization: 50},
			pods: gpuPods, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := autoscale.Replicas(metricInput(c.metric, c.pods, usage, map[string]readiness{}, 2, t0))
			if c.wantErr {
				if err == nil {
					t.Fatalf("no error, %+v", res)
				}
				return
			}
			if err != nil || res.Replicas != c.want || res.Utilization != c.wantUtil {
				t.Errorf("%+v, %v; want %d replicas at %d%%", res, err, c.want, c.wantUtil)
			}
		})
	}
}
