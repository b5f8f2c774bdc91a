package spread

import (
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

// upTo returns 1..n milliseconds.
func upTo(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * ms
	}
	return out
}

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		seen []time.Duration
		of   int
		want Spread
	}{
		{name: "none should have", of: 0, want: Spread{P50: -1, P99: -1, Max: -1}},
		{name: "none saw", of: 3, want: Spread{P50: -1, P99: -1, Max: -1, Of: 3}},
		{name: "one of one", seen: []time.Duration{5 * ms}, of: 1, want: Spread{P50: 5 * ms, P99: 5 * ms, Max: 5 * ms, Seen: 1, Of: 1}},
		{name: "unsorted", seen: []time.Duration{30 * ms, 10 * ms, 40 * ms, 20 * ms}, of: 4, want: Spread{P50: 20 * ms, P99: 40 * ms, Max: 40 * ms, Seen: 4, Of: 4}},
		{name: "half missing", seen: []time.Duration{2 * ms, 1 * ms}, of: 4, want: Spread{P50: 2 * ms, P99: -1, Max: -1, Seen: 2, Of: 4}},
		{name: "hundred: p99 is the 99th", seen: upTo(100), of: 100, want: Spread{P50: 50 * ms, P99: 99 * ms, Max: 100 * ms, Seen: 100, Of: 100}},
		{name: "one missing of a hundred: p99 still there", seen: upTo(99), of: 100, want: Spread{P50: 50 * ms, P99: 99 * ms, Max: -1, Seen: 99, Of: 100}},
		{name: "two missing of a hundred: no p99", seen: upTo(98), of: 100, want: Spread{P50: 50 * ms, P99: -1, Max: -1, Seen: 98, Of: 100}},
		{name: "most missing: no median", seen: upTo(10), of: 100, want: Spread{P50: -1, P99: -1, Max: -1, Seen: 10, Of: 100}},
		// More seen than expected: the ranks run over all that saw it.
		{name: "more seen than of", seen: upTo(4), of: 2, want: Spread{P50: 2 * ms, P99: 4 * ms, Max: 4 * ms, Seen: 4, Of: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.seen)
			if got := Of(tc.seen, tc.of); got != tc.want {
				t.Fatalf("Of = %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(tc.seen, in) {
				t.Fatalf("Of changed its input: %v, was %v", tc.seen, in)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		d          time.Duration
		secs, dura string
	}{
		{d: -1, secs: "—", dura: "—"},
		{d: 0, secs: "0.00s", dura: "0ms"},
		{d: 95 * ms, secs: "0.10s", dura: "95ms"},
		{d: 999 * ms, secs: "1.00s", dura: "999ms"},
		{d: time.Second, secs: "1.00s", dura: "1.00s"},
		{d: 1504 * ms, secs: "1.50s", dura: "1.50s"},
	}
	for _, tc := range tests {
		if got := Secs(tc.d); got != tc.secs {
			t.Errorf("Secs(%v) = %q, want %q", tc.d, got, tc.secs)
		}
		if got := Dur(tc.d); got != tc.dura {
			t.Errorf("Dur(%v) = %q, want %q", tc.d, got, tc.dura)
		}
	}
}

func TestFull(t *testing.T) {
	tests := []struct {
		name string
		s    Spread
		want string
	}{
		{name: "all saw", s: Of(upTo(3), 3), want: "3ms"},
		{name: "some missing", s: Of(upTo(98), 100), want: "98/100"},
		{name: "none saw", s: Of(nil, 5), want: "0/5"},
		{name: "none should have", s: Of(nil, 0), want: "—"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Full(Dur); got != tc.want {
				t.Fatalf("Full = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		list  string
		least int
		want  []int
	}{
		{list: "100", least: 1, want: []int{100}},
		{list: "100, 1000", least: 3, want: []int{100, 1000}},
		{list: "3,1", least: 3},
		{list: "1", least: 1, want: []int{1}},
		{list: "0", least: 1},
		{list: "", least: 1},
		{list: "100,", least: 1},
		{list: "ten", least: 1},
	}
	for _, tc := range tests {
		got, err := ParseSizes(tc.list, tc.least)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSizes(%q, %d) = %v, %v; want %v", tc.list, tc.least, got, err, tc.want)
		}
	}
}

func TestGroup(t *testing.T) {
	tests := []struct {
		add       []float64
		mean, max float64
	}{
		{nil, 0, 0},
		{[]float64{2}, 2, 2},
		{[]float64{1, 2, 6}, 3, 6},
		{[]float64{0.5, 0.25}, 0.375, 0.5},
	}
	for _, tt := range tests {
		var g Group
		for _, v := range tt.add {
			g.Add(v)
		}
		if g.N != len(tt.add) || g.Mean != tt.mean || g.Max != tt.max {
			t.Errorf("Add %v: %+v, want mean %v max %v", tt.add, g, tt.mean, tt.max)
		}
	}
}
