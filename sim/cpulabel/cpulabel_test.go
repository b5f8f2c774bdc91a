package cpulabel

import (
	"maps"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func TestByLabel(t *testing.T) {
	sample := func(role string, cpu int64) *profile.Sample {
		s := &profile.Sample{Value: []int64{1, cpu}}
		if role != "" {
			s.Label = map[string][]string{"role": {role}, "other": {"x"}}
		}
		return s
	}
	cpuTypes := []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}
	tests := []struct {
		name string
		p    *profile.Profile
		want map[string]time.Duration
	}{
		{name: "empty", p: &profile.Profile{SampleType: cpuTypes}, want: map[string]time.Duration{}},
		{name: "by role, unlabelled apart", p: &profile.Profile{SampleType: cpuTypes, Sample: []*profile.Sample{
			sample("m0", 10e6), sample("m1", 20e6), sample("m0", 30e6), sample("", 5e6),
		}}, want: map[string]time.Duration{"m0": 40 * time.Millisecond, "m1": 20 * time.Millisecond, "": 5 * time.Millisecond}},
		{name: "not a CPU profile", p: &profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}},
			Sample: []*profile.Sample{{Value: []int64{100}}}}, want: map[string]time.Duration{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := byLabel(tc.p, "role"); !maps.Equal(got, tc.want) {
				t.Fatalf("byLabel = %v, want %v", got, tc.want)
			}
		})
	}
}
