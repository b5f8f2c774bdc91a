package metrics

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var t0 = time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur Sample
		want      Usage
		wantOK    bool
	}{
		{"half a core", Sample{At: at(0), CPUNanos: 1e9}, Sample{At: at(10), CPUNanos: 6e9, WorkingSet: 64 << 20}, Usage{500, 64 << 20}, true},
		{"idle", Sample{At: at(0), CPUNanos: 5}, Sample{At: at(10), CPUNanos: 5, WorkingSet: 1}, Usage{0, 1}, true},
		{"two cores", Sample{At: at(0)}, Sample{At: at(0.5), CPUNanos: 1e9}, Usage{2000, 0}, true},
		{"rounds to nearest", Sample{At: at(0)}, Sample{At: at(10), CPUNanos: 12_006_000}, Usage{1, 0}, true},
		{"rounds down", Sample{At: at(0)}, Sample{At: at(10), CPUNanos: 4_000_000}, Usage{0, 0}, true},
		{"counter reset", Sample{At: at(0), CPUNanos: 9e9}, Sample{At: at(10), CPUNanos: 1e9}, Usage{}, false},
		{"same time", Sample{At: at(5)}, Sample{At: at(5), CPUNanos: 1}, Usage{}, false},
		{"out of order", Sample{At: at(5)}, Sample{At: at(1), CPUNanos: 1}, Usage{}, false},
		{"negative working set clamped", Sample{At: at(0)}, Sample{At: at(1), WorkingSet: -5}, Usage{0, 0}, true},
	}
	for _, tt := range tests {
		got, ok := Rate(tt.prev, tt.cur)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("%s: got %+v %v, want %+v %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestWindow(t *testing.T) {
	// One core busy for the first 30 s, then a quarter core.
	samples := []Sample{
		{At: at(0), CPUNanos: 0},
		{At: at(10), CPUNanos: 10e9},
		{At: at(20), CPUNanos: 20e9},
		{At: at(30), CPUNanos: 30e9},
		{At: at(40), CPUNanos: 32.5e9, WorkingSet: 7},
	}
	tests := []struct {
		name       string
		size       int
		add        []Sample
		span       time.Duration
		want       Usage
		wantWindow time.Duration
		wantOK     bool
		wantLen    int
	}{
		{name: "last interval", size: 6, add: samples, want: Usage{250, 7}, wantWindow: 10 * time.Second, wantOK: true, wantLen: 5},
		{name: "over 20s", size: 6, add: samples, span: 20 * time.Second, want: Usage{625, 7}, wantWindow: 20 * time.Second, wantOK: true, wantLen: 5},
		{name: "span longer than held", size: 3, add: samples, span: time.Minute, want: Usage{625, 7}, wantWindow: 20 * time.Second, wantOK: true, wantLen: 3},
		{name: "one sample", size: 6, add: samples[:1], wantLen: 1},
		{name: "size below two keeps two", size: 1, add: samples, span: time.Minute, want: Usage{250, 7}, wantWindow: 10 * time.Second, wantOK: true, wantLen: 2},
		{name: "stale sample dropped", size: 6, add: append(append([]Sample{}, samples[:2]...), Sample{At: at(5), CPUNanos: 99e9}), want: Usage{1000, 0}, wantWindow: 10 * time.Second, wantOK: true, wantLen: 2},
		{name: "restart starts over", size: 6, add: append(append([]Sample{}, samples...), Sample{At: at(50), CPUNanos: 1e9}), wantLen: 1},
		{name: "after restart", size: 6, add: append(append([]Sample{}, samples...), Sample{At: at(50), CPUNanos: 1e9}, Sample{At: at(60), CPUNanos: 2e9}), want: Usage{100, 0}, wantWindow: 10 * time.Second, wantOK: true, wantLen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.size)
			for _, s := range tt.add {
				w.Add(s)
			}
			u, _, win, ok := w.Usage(tt.span)
			if u != tt.want || win != tt.wantWindow || ok != tt.wantOK || w.Len() != tt.wantLen {
				t.Errorf("got %+v window %v ok %v len %d; want %+v %v %v %d", u, win, ok, w.Len(), tt.want, tt.wantWindow, tt.wantOK, tt.wantLen)
			}
		})
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder("n1", 4)
	web := ContainerKey{Namespace: "default", Pod: "web", PodUID: "u1", Container: "app"}
	side := web
	side.Container = "side"
	db := ContainerKey{Namespace: "a", Pod: "db", PodUID: "u2", Container: "db"}
	fresh := ContainerKey{Namespace: "z", Pod: "new", PodUID: "u3", Container: "c"}
	for i, s := range []float64{0, 10} {
		r.AddContainer(web, Sample{At: at(s), CPUNanos: uint64(i) * 5e9, WorkingSet: 100})
		r.AddContainer(side, Sample{At: at(s + 1), CPUNanos: uint64(i) * 1e9, WorkingSet: 50})
		r.AddContainer(db, Sample{At: at(s), CPUNanos: uint64(i) * 20e9, WorkingSet: 1 << 30})
		r.AddNode(Sample{At: at(s), CPUNanos: uint64(i) * 30e9, WorkingSet: 2 << 30})
	}
	r.AddContainer(fresh, Sample{At: at(10)})
	r.SetGPUs("u2", []GPUUsage{{ID: "GPU-1", UtilizationPercent: 80}})
	rep := r.Report(0)
	if !rep.NodeOK || rep.NodeInfo.Usage != (Usage{3000, 2 << 30}) || rep.Node != "n1" {
		t.Errorf("node %+v", rep)
	}
	if len(rep.Pods) != 2 || rep.Pods[0].Name != "db" || rep.Pods[1].Name != "web" {
		t.Fatalf("pods %+v (want db, web; new has one sample)", rep.Pods)
	}
	if got := rep.Pods[1].Total(); got != (Usage{600, 150}) {
		t.Errorf("web total %+v", got)
	}
	if p := rep.Pods[1]; len(p.Containers) != 2 || p.Containers[0].Name != "app" || !p.At.Equal(at(11)) || p.Window != 10*time.Second {
		t.Errorf("web %+v", p)
	}
	if g := rep.Pods[0].GPUs; len(g) != 1 || g[0].UtilizationPercent != 80 {
		t.Errorf("db gpus %+v", g)
	}
	r.Retain(func(k ContainerKey) bool { return k.PodUID == "u1" })
	rep = r.Report(0)
	if len(rep.Pods) != 1 || rep.Pods[0].Name != "web" {
		t.Errorf("after retain %+v", rep.Pods)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.gpus) != 0 {
		t.Errorf("GPU readings of a gone pod kept: %v", r.gpus)
	}
}

func TestQuantities(t *testing.T) {
	tests := []struct {
		milli int64
		cpu   string
		bytes int64
		mem   string
	}{
		{0, "0", 0, "0"},
		{12, "12m", 64 << 20, "64Mi"},
		{1000, "1", 6778880, "6620Ki"},
		{1500, "1500m", 1000, "1000"},
		{250000, "250", 3 << 30, "3Gi"},
	}
	for _, tt := range tests {
		if got := FormatCPU(tt.milli); got != tt.cpu {
			t.Errorf("FormatCPU(%d) = %q, want %q", tt.milli, got, tt.cpu)
		}
		if got := FormatMemory(tt.bytes); got != tt.mem {
			t.Errorf("FormatMemory(%d) = %q, want %q", tt.bytes, got, tt.mem)
		}
		if got, err := ParseCPU(tt.cpu); err != nil || got != tt.milli {
			t.Errorf("ParseCPU(%q) = %d, %v", tt.cpu, got, err)
		}
		if got, err := ParseMemory(tt.mem); err != nil || got != tt.bytes {
			t.Errorf("ParseMemory(%q) = %d, %v", tt.mem, got, err)
		}
	}
	if got, err := ParseCPU("1500000n"); err != nil || got != 2 {
		t.Errorf("nanocores: %d %v (want 2: rounded up)", got, err)
	}
	if _, err := ParseCPU("lots"); err == nil {
		t.Error("ParseCPU(lots) did not fail")
	}
	if _, err := ParseMemory("12Qi"); err == nil {
		t.Error("ParseMemory(12Qi) did not fail")
	}
}

func TestCollector(t *testing.T) {
	r := NewRecorder("n1", 3)
	k := ContainerKey{Namespace: "default", Pod: "web", PodUID: "u1", Container: "app"}
	r.AddContainer(k, Sample{At: at(0), CPUNanos: 2_500_000_000, WorkingSet: 64 << 20})
	r.AddNode(Sample{At: at(0), CPUNanos: 10e9, WorkingSet: 1 << 30})
	r.SetGPUs("u1", []GPUUsage{{ID: "GPU-a", UtilizationPercent: 75, MemoryUsedBytes: 1 << 20}})
	r.SetGPUs("gone", []GPUUsage{{ID: "GPU-b"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if mf.GetType() == dto.MetricType_COUNTER {
				v = m.GetCounter().GetValue()
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	want := map[string]float64{
		"shoal_container_cpu_usage_seconds_total{container=app,namespace=default,pod=web}":  2.5,
		"shoal_container_memory_working_set_bytes{container=app,namespace=default,pod=web}": 64 << 20,
		"shoal_node_cpu_usage_seconds_total{node=n1}":                                       10,
		"shoal_node_memory_working_set_bytes{node=n1}":                                      1 << 30,
		"shoal_pod_gpu_utilization_ratio{gpu=GPU-a,namespace=default,pod=web}":              0.75,
		"shoal_pod_gpu_memory_used_bytes{gpu=GPU-a,namespace=default,pod=web}":              1 << 20,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
