package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "20", want: []int{20}},
		{in: "20,50, 100", want: []int{20, 50, 100}},
		{in: "", wantErr: `pod count ""`},
		{in: "20,,50", wantErr: `pod count ""`},
		{in: "0", wantErr: `pod count "0": expected a whole number from 1 to 10000`},
		{in: "20,x", wantErr: `pod count "x"`},
		{in: "20001", wantErr: `pod count "20001"`},
	} {
		got, err := ParseCounts(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseCounts(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !equalInts(got, tc.want) {
			t.Errorf("ParseCounts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseCounts(f *testing.F) {
	for _, s := range []string{"20,50,100", "1", ",", "-1", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := ParseCounts(s)
		if err != nil {
			return
		}
		if len(ns) == 0 {
			t.Fatalf("ParseCounts(%q) accepted no count", s)
		}
		for _, n := range ns {
			if n < 1 || n > 10000 {
				t.Fatalf("ParseCounts(%q) accepted %d", s, n)
			}
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSummarize(t *testing.T) {
	s := time.Second
	rs := []Result{
		{Pods: 20, CtrRun: 4 * s, ShoalApply: 5 * s},   // 1.25
		{Pods: 50, CtrRun: 10 * s, ShoalApply: 11 * s}, // 1.1
		{Pods: 20, CtrRun: 5 * s, ShoalApply: 5 * s},   // 1.0
		{Pods: 20, CtrRun: 8 * s, ShoalApply: 12 * s},  // 1.5
	}
	got := Summarize(rs)
	want := []Summary{
		{Pods: 20, Runs: 3, Shoal: Stat{5, 5, 12}, Floor: Stat{5, 4, 8}, Ratio: Stat{1.25, 1, 1.5}},
		{Pods: 50, Runs: 1, Shoal: Stat{11, 11, 11}, Floor: Stat{10, 10, 10}, Ratio: Stat{1.1, 1.1, 1.1}},
	}
	if len(got) != len(want) {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Summarize[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if pp := got[0].PerPod(); pp != 250*time.Millisecond {
		t.Errorf("PerPod = %v, want 250ms", pp)
	}
}

func TestStatEven(t *testing.T) {
	if got := statOf([]float64{4, 1, 3, 2}); got != (Stat{2.5, 1, 4}) {
		t.Errorf("statOf = %+v, want median 2.5 over 1–4", got)
	}
	if got := statOf(nil); got != (Stat{}) {
		t.Errorf("statOf(nil) = %+v, want zero", got)
	}
}

func TestWriteTable(t *testing.T) {
	s := time.Second
	var b bytes.Buffer
	WriteTable(&b, Summarize([]Result{
		{Pods: 20, CtrRun: 4 * s, ShoalApply: 4 * s},
		{Pods: 100, CtrRun: 20 * s, ShoalApply: 30 * s},
	}), 1.2)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want header + 2:\n%s", len(lines), b.String())
	}
	for i, want := range []struct{ has, hasNot string }{
		{has: "1.00x (1.00–1.00)", hasNot: "over"},
		{has: "1.50x (1.50–1.50)", hasNot: ""},
	} {
		l := lines[i+1]
		if !strings.Contains(l, want.has) || (want.hasNot != "" && strings.Contains(l, want.hasNot)) {
			t.Errorf("line %q: want %q and not %q", l, want.has, want.hasNot)
		}
	}
	if !strings.Contains(lines[2], "over 1.20x") || !strings.Contains(lines[2], "300ms") {
		t.Errorf("line %q: want the ratio flagged over 1.20x and 300ms per pod", lines[2])
	}
}
