package agent

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/metrics"
	"shoal/metrics/cgroup"
)

// fakeCgroups answers from a map of path → counters: a path it lacks is
// not found, a broken one fails to read.
type fakeCgroups struct {
	counters map[string]cgroup.Counters
	broken   map[string]bool
}

func (f *fakeCgroups) Read(path string) (cgroup.Counters, error) {
	if f.broken[path] {
		return cgroup.Counters{}, errors.New("permission denied")
	}
	c, ok := f.counters[path]
	if !ok {
		return c, cgroup.ErrNotFound
	}
	return c, nil
}

type fakeNode struct{ c cgroup.Counters }

func (f *fakeNode) Read() (cgroup.Counters, error) { return f.c, nil }

type fakeGPUs struct{ asked [][]string }

func (f *fakeGPUs) Usage(ids []string) ([]metrics.GPUUsage, error) {
	f.asked = append(f.asked, ids)
	var out []metrics.GPUUsage
	for _, id := range ids {
		out = append(out, metrics.GPUUsage{ID: id, UtilizationPercent: 90})
	}
	return out, nil
}

func TestMetricsSampler(t *testing.T) {
	txn := cluster.Empty().Txn(1)
	ctr := func(n string) cluster.Container { return cluster.Container{Name: n, Image: "busybox"} }
	txn.PutPod(&cluster.Pod{Namespace: "default", Name: "web", UID: "u-web", NodeName: "n1",
		Spec: cluster.PodSpec{InitContainers: []cluster.Container{ctr("init"), ctr("sidecar")}, Containers: []cluster.Container{ctr("app"), ctr("broken")}}})
	txn.PutPod(&cluster.Pod{Namespace: "ml", Name: "train", UID: "u-train", NodeName: "n1", GPUs: []string{"GPU-1"},
		Spec: cluster.PodSpec{Containers: []cluster.Container{ctr("main")}}})
	txn.PutPod(&cluster.Pod{Namespace: "default", Name: "elsewhere", UID: "u-else", NodeName: "n2",
		Spec: cluster.PodSpec{Containers: []cluster.Container{ctr("c")}}})
	st := txn.Commit()

	cg := &fakeCgroups{counters: map[string]cgroup.Counters{}, broken: map[string]bool{"/ns/u-web/broken": true}}
	host := &fakeNode{}
	gpus := &fakeGPUs{}
	var logs bytes.Buffer
	now := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	s := &metricsSampler{
		node: "n1", every: 10 * time.Second, state: func() *cluster.State { return st },
		cgroupOf: func(uid, c string) string { return "/ns/" + uid + "/" + c },
		cgroups:  cg, host: host, gpus: gpus,
		rec: metrics.NewRecorder("n1", 7), now: func() time.Time { return now },
		log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	set := func(cpuSec float64, mem int64) {
		for _, p := range []string{"/ns/u-web/sidecar", "/ns/u-web/app", "/ns/u-train/main", "/ns/u-else/c"} {
			cg.counters[p] = cgroup.Counters{CPUNanos: uint64(cpuSec * 1e9), WorkingSet: mem}
		}
		host.c = cgroup.Counters{CPUNanos: uint64(4 * cpuSec * 1e9), WorkingSet: 4 * mem}
	}
	set(1, 10<<20)
	s.sample()
	now = now.Add(10 * time.Second)
	set(6, 20<<20) // half a core each over 10 s
	s.sample()
	s.sample() // a sample at the same instant changes nothing

	rep := s.rec.Report(0)
	var got []string
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			got = append(got, p.Namespace+"/"+p.Name+"/"+c.Name+"="+metrics.FormatCPU(c.Usage.MilliCPU)+","+metrics.FormatMemory(c.Usage.MemoryBytes))
		}
	}
	// init has finished (no cgroup); broken cannot be read; elsewhere
	// is another node's.
	want := "default/web/app=500m,20Mi default/web/sidecar=500m,20Mi ml/train/main=500m,20Mi"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
	if !rep.NodeOK || rep.NodeInfo.Usage != (metrics.Usage{MilliCPU: 2000, MemoryBytes: 80 << 20}) {
		t.Errorf("node %+v", rep.NodeInfo)
	}
	if len(rep.Pods) != 2 || len(rep.Pods[1].GPUs) != 1 || rep.Pods[1].GPUs[0].ID != "GPU-1" || len(gpus.asked) != 3 {
		t.Errorf("GPUs: %+v, asked %v", rep.Pods, gpus.asked)
	}
	if n := strings.Count(logs.String(), "read a container's cgroup"); n != 1 {
		t.Errorf("the broken container was logged %d times, want once:\n%s", n, logs.String())
	}

	// The pod leaves the node: its windows go.
	txn = st.Txn(2)
	txn.DeletePod("default", "web")
	st = txn.Commit()
	now = now.Add(10 * time.Second)
	s.sample()
	if rep := s.rec.Report(0); len(rep.Pods) != 1 || rep.Pods[0].Name != "train" {
		t.Errorf("after the pod left: %+v", rep.Pods)
	}
}

func TestMetricsWindowSize(t *testing.T) {
	for _, tt := range []struct {
		every time.Duration
		want  int
	}{{10 * time.Second, 7}, {time.Second, 61}, {30 * time.Second, 3}} {
		if got := metricsWindowSize(tt.every); got != tt.want {
			t.Errorf("metricsWindowSize(%v) = %d, want %d", tt.every, got, tt.want)
		}
	}
}

// BenchmarkMetricsSample100Pods: one sampling pass over 100 pods of two
// containers each, reading and parsing real cgroup v1 files (testdata)
// and /proc, as the agent does every --metrics-interval.
func BenchmarkMetricsSample100Pods(b *testing.B) {
	txn := cluster.Empty().Txn(1)
	for i := range 100 {
		txn.PutPod(&cluster.Pod{Namespace: "default", Name: fmt.Sprintf("p%d", i), UID: fmt.Sprintf("u%d", i), NodeName: "n1",
			Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "a"}, {Name: "b"}}}})
	}
	st := txn.Commit()
	at := time.Now()
	s := &metricsSampler{
		node: "n1", every: 10 * time.Second, state: func() *cluster.State { return st },
		cgroupOf: func(string, string) string { return "/shoal/abc" },
		cgroups:  &cgroup.Reader{Root: os.DirFS("../metrics/cgroup/testdata/v1")},
		host:     cgroup.HostNode(),
		rec:      metrics.NewRecorder("n1", 7),
		now:      func() time.Time { at = at.Add(10 * time.Second); return at },
		log:      slog.New(slog.DiscardHandler),
	}
	b.ReportAllocs()
	for b.Loop() {
		s.sample()
	}
}
