package cluster

import "testing"

func TestTolerates(t *testing.T) {
	gpu := Taint{Key: "nvidia.com/gpu", Value: "present", Effect: TaintNoSchedule}
	for _, tc := range []struct {
		name string
		tol  Toleration
		want bool
	}{
		{"exists on key", Toleration{Key: "nvidia.com/gpu", Operator: TolerationExists}, true},
		{"exists with effect", Toleration{Key: "nvidia.com/gpu", Operator: TolerationExists, Effect: TaintNoSchedule}, true},
		{"exists other effect", Toleration{Key: "nvidia.com/gpu", Operator: TolerationExists, Effect: TaintNoExecute}, false},
		{"equal value", Toleration{Key: "nvidia.com/gpu", Operator: TolerationEqual, Value: "present"}, true},
		{"default operator is Equal", Toleration{Key: "nvidia.com/gpu", Value: "present"}, true},
		{"equal other value", Toleration{Key: "nvidia.com/gpu", Value: "absent"}, false},
		{"other key", Toleration{Key: "dedicated", Operator: TolerationExists}, false},
		{"empty key exists tolerates all", Toleration{Operator: TolerationExists}, true},
		{"empty key equal tolerates none", Toleration{Value: "present"}, false},
		{"unknown operator", Toleration{Key: "nvidia.com/gpu", Operator: "In"}, false},
	} {
		if got := tc.tol.Tolerates(gpu); got != tc.want {
			t.Errorf("%s: Tolerates = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUntolerated(t *testing.T) {
	taints := []Taint{
		{Key: "soft", Effect: TaintPreferNoSchedule},
		{Key: "gpu", Value: "true", Effect: TaintNoSchedule},
		{Key: "evict", Effect: TaintNoExecute},
	}
	hard := []TaintEffect{TaintNoSchedule, TaintNoExecute}
	if got, ok := Untolerated(taints, nil, hard...); !ok || got.Key != "gpu" {
		t.Errorf("no tolerations: %v %v", got, ok)
	}
	tols := []Toleration{{Key: "gpu", Operator: TolerationExists}}
	if got, ok := Untolerated(taints, tols, hard...); !ok || got.Key != "evict" {
		t.Errorf("gpu tolerated: %v %v", got, ok)
	}
	tols = append(tols, Toleration{Key: "evict", Operator: TolerationExists})
	if got, ok := Untolerated(taints, tols, hard...); ok {
		t.Errorf("all hard tolerated: %v", got)
	}
	if n := CountUntolerated(taints, tols, TaintPreferNoSchedule); n != 1 {
		t.Errorf("prefer count %d", n)
	}
	if got := taints[1].String(); got != "{gpu: true}" {
		t.Errorf("String = %q", got)
	}
}

func TestNoExecuteGrace(t *testing.T) {
	sec := func(s int64) *int64 { return &s }
	ne := []Taint{{Key: "a", Effect: TaintNoExecute}, {Key: "b", Effect: TaintNoExecute}}
	for _, tc := range []struct {
		name    string
		taints  []Taint
		tols    []Toleration
		evict   bool
		seconds int64
	}{
		{"no NoExecute taint", []Taint{{Key: "a", Effect: TaintNoSchedule}}, nil, false, 0},
		{"untolerated", ne, nil, true, 0},
		{"one of two tolerated", ne, []Toleration{{Key: "a", Operator: TolerationExists}}, true, 0},
		{"all tolerated for ever", ne, []Toleration{{Operator: TolerationExists}}, false, 0},
		{"bounded", ne, []Toleration{{Key: "a", Operator: TolerationExists, TolerationSeconds: sec(60)}, {Key: "b", Operator: TolerationExists}}, true, 60},
		{"shortest wins", ne, []Toleration{{Key: "a", Operator: TolerationExists, TolerationSeconds: sec(60)}, {Key: "b", Operator: TolerationExists, TolerationSeconds: sec(30)}}, true, 30},
		{"negative is now", ne[:1], []Toleration{{Key: "a", Operator: TolerationExists, TolerationSeconds: sec(-5)}}, true, 0},
	} {
		evict, s := NoExecuteGrace(tc.taints, tc.tols)
		if evict != tc.evict || s != tc.seconds {
			t.Errorf("%s: got %v %d, want %v %d", tc.name, evict, s, tc.evict, tc.seconds)
		}
	}
}
