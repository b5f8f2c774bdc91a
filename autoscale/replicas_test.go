package autoscale

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// calcCase is one of Kubernetes' replica_calculator_test.go cases
// (TestReplicaCalc...), in its terms: pods with their readiness and
// phase, cpu requests and usage levels.
type calcCase struct {
	name     string
	current  int32
	want     int32
	wantUtil int32
	wantErr  error
	// levels are the pods' usage, in order; missing pods have none.
	levels   []int64
	requests []int64
	// ready and pending, per pod, default true and false.
	ready   []bool
	pending []bool
	gone    []bool
	target  int32
	average int64
	memory  bool
	// startedAgo is how long ago every pod started (default 10 minutes:
	// past the cpu initialization period).
	startedAgo time.Duration
	pods       int
}

func (c calcCase) input() Input {
	n := c.pods
	if n == 0 {
		n = len(c.levels)
	}
	started := c.startedAgo
	if started == 0 {
		started = 10 * time.Minute
	}
	in := Input{CPU: !c.memory, Current: c.current, Metrics: map[string]Sample{}, TargetUtilization: c.target, TargetAverage: c.average, Now: t0}
	for i := range n {
		p := Pod{Name: fmt.Sprintf("p%d", i), Ready: true, StartedAt: t0.Add(-started), ReadySince: t0.Add(-started).Add(5 * time.Second), Request: 1000}
		if i < len(c.requests) {
			p.Request = c.requests[i]
		}
		if i < len(c.ready) && !c.ready[i] {
			p.Ready = false
		}
		if i < len(c.pending) && c.pending[i] {
			p.Pending = true
		}
		if i < len(c.gone) && c.gone[i] {
			p.Gone = true
		}
		in.Pods = append(in.Pods, p)
		if i < len(c.levels) {
			in.Metrics[p.Name] = Sample{Value: c.levels[i], At: t0.Add(-10 * time.Second), Window: 30 * time.Second}
		}
	}
	return in
}

func TestReplicas(t *testing.T) {
	f, tr := false, true
	cases := []calcCase{
		{name: "ScaleUp", current: 3, want: 5, wantUtil: 50, levels: []int64{300, 500, 700}, target: 30},
		{name: "ScaleUpUnreadyLessScale", current: 3, want: 4, wantUtil: 60, levels: []int64{300, 500, 700}, ready: []bool{f, tr, tr}, target: 30},
		{name: "ScaleUpHotCpuLessScale", current: 3, want: 4, wantUtil: 60, levels: []int64{300, 500, 700}, ready: []bool{f, tr, tr}, target: 30, startedAgo: time.Minute},
		{name: "ScaleUpUnreadyNoScale", current: 3, want: 3, wantUtil: 40, levels: []int64{400, 500, 700}, ready: []bool{tr, f, f}, target: 30},
		{name: "ScaleUpIgnoresFailedPods", current: 2, want: 4, wantUtil: 60, levels: []int64{500, 700, 4000, 7000}, ready: []bool{tr, tr, f, f}, gone: []bool{f, f, tr, tr}, target: 30},
		{name: "ScaleUpPendingLessScale", current: 3, want: 4, wantUtil: 60, levels: []int64{300, 500, 700}, pending: []bool{tr, f, f}, target: 30},
		{name: "ScaleDown", current: 5, want: 3, wantUtil: 28, levels: []int64{100, 300, 500, 250, 250}, target: 50},
		{name: "ScaleDownIncludeUnreadyPods", current: 5, want: 2, wantUtil: 30, levels: []int64{100, 300, 500, 250, 250}, ready: []bool{tr, tr, tr, f, f}, target: 50},
		{name: "Tolerance", current: 3, want: 3, wantUtil: 102, levels: []int64{1010, 1030, 1020}, requests: []int64{900, 1000, 1100}, target: 100},
		{name: "MissingMetricsNoChangeEq", current: 2, want: 2, wantUtil: 100, levels: []int64{1000}, pods: 2, target: 100},
		{name: "MissingMetricsNoChangeGt", current: 2, want: 2, wantUtil: 190, levels: []int64{1900}, pods: 2, target: 100},
		{name: "MissingMetricsNoChangeLt", current: 2, want: 2, wantUtil: 60, levels: []int64{600}, pods: 2, target: 100},
		{name: "MissingMetricsUnreadyChange", current: 3, want: 3, wantUtil: 45, levels: []int64{100, 450}, pods: 3, ready: []bool{f, tr, tr}, target: 50},
		{name: "MissingMetricsUnreadyScaleUp", current: 3, want: 4, wantUtil: 200, levels: []int64{100, 2000}, pods: 3, ready: []bool{f, tr, tr}, target: 50},
		{name: "MissingMetricsUnreadyScaleDown", current: 4, want: 3, wantUtil: 10, levels: []int64{100, 100, 100}, pods: 4, ready: []bool{f, tr, tr, tr}, target: 50},
		{name: "MemoryAverageValueScaleUp", current: 3, want: 5, levels: []int64{300 << 20, 500 << 20, 700 << 20}, average: 300 << 20, memory: true},
		{name: "MemoryUnreadyCounts", current: 3, want: 5, wantUtil: 50, levels: []int64{300, 500, 700}, ready: []bool{f, f, f}, target: 30, memory: true},
		{name: "NoPods", current: 1, wantErr: ErrNoPods, target: 50},
		{name: "NoMetrics", current: 2, wantErr: ErrNoMetrics, levels: []int64{100, 100}, ready: []bool{f, f}, target: 50, startedAgo: time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Replicas(c.input())
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Replicas != c.want || got.Utilization != c.wantUtil {
				t.Errorf("replicas %d utilization %d%%, want %d and %d%%", got.Replicas, got.Utilization, c.want, c.wantUtil)
			}
		})
	}
}

func TestReplicasMissingRequest(t *testing.T) {
	in := calcCase{current: 2, levels: []int64{100, 100}, target: 50}.input()
	in.Pods[1].NoRequest = true
	if _, err := Replicas(in); err == nil {
		t.Fatal("a container without a request gave a utilization")
	}
}

// A starting pod's cpu sample counts only once a whole window followed
// its turning ready.
func TestReplicasCPUWarmUp(t *testing.T) {
	in := calcCase{current: 2, levels: []int64{900, 900}, target: 50, startedAgo: time.Minute}.input()
	in.Pods[1].ReadySince = t0.Add(-20 * time.Second) // sample window 30 s: began before it was ready
	got, err := Replicas(in)
	if err != nil {
		t.Fatal(err)
	}
	// One ready pod at 90%: ratio 1.8; the warming pod counts 0 on the
	// scale-up: (900+0)/2000 = 45% → ratio 0.9, within tolerance.
	if got.Replicas != 2 {
		t.Errorf("replicas %d, want 2", got.Replicas)
	}
}
