package cluster

import (
	"testing"
	"time"
)

func TestPodAvailable(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ready := func(r bool, since time.Time, avail bool) *Pod {
		return &Pod{Status: PodStatus{Phase: PodRunning, Ready: r}, ReadySince: since, Available: avail}
	}
	tests := []struct {
		name     string
		minReady int32
		pod      *Pod
		want     bool
	}{
		{"no minReadySeconds, ready", 0, ready(true, time.Time{}, false), true},
		{"no minReadySeconds, not ready", 0, ready(false, time.Time{}, false), false},
		{"minReadySeconds, just ready", 10, ready(true, t0, false), false},
		{"minReadySeconds, stamped available", 10, ready(true, t0, true), true},
		{"stale stamp on a pod not ready", 10, ready(false, t0, true), false},
	}
	for _, tt := range tests {
		w := &Workload{MinReadySeconds: tt.minReady}
		if got := w.PodAvailable(tt.pod); got != tt.want {
			t.Errorf("%s: PodAvailable %t, want %t", tt.name, got, tt.want)
		}
	}
	p := ready(false, t0, true)
	if !p.ClearReadiness() || !p.ReadySince.IsZero() || p.Available {
		t.Errorf("ClearReadiness left %+v", p)
	}
	if p := ready(true, t0, true); p.ClearReadiness() || !p.Available {
		t.Error("ClearReadiness cleared a ready pod")
	}
}

func TestCountDaemonsAvailability(t *testing.T) {
	w := &Workload{UID: "ds", TemplateHash: "h", MinReadySeconds: 10}
	pod := func(node string, avail bool) *Pod {
		return &Pod{NodeName: node, TemplateHash: "h", Owner: &OwnerRef{UID: "ds"},
			Status: PodStatus{Phase: PodRunning, Ready: true}, Available: avail}
	}
	c := CountDaemons(w, []*Pod{pod("a", true), pod("b", false)}, 2)
	if c.Ready != 2 || c.Available != 1 {
		t.Errorf("counts %+v, want 2 ready, 1 available", c)
	}
}
