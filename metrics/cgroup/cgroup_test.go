package cgroup

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	v1 := &Reader{Root: os.DirFS("testdata/v1")}
	v2 := &Reader{V2: true, Root: os.DirFS("testdata/v2")}
	tests := []struct {
		name    string
		r       *Reader
		path    string
		want    Counters
		wantErr string
		missing bool
	}{
		{name: "v1", r: v1, path: "/shoal/abc", want: Counters{CPUNanos: 1234567890, WorkingSet: 8126464 - 1347584}},
		{name: "v2", r: v2, path: "/shoal/abc", want: Counters{CPUNanos: 2500000000, WorkingSet: 71303168 - 3145728}},
		{name: "v1 gone", r: v1, path: "/shoal/gone", missing: true, wantErr: "cpuacct/shoal/gone/cpuacct.usage"},
		{name: "v2 gone", r: v2, path: "/shoal/gone", missing: true, wantErr: "shoal/gone/cpu.stat"},
		{name: "v1 no memory.stat", r: v1, path: "/shoal/nostat", missing: true, wantErr: "memory/shoal/nostat/memory.stat"},
		{name: "v2 bad number", r: v2, path: "/shoal/broken", wantErr: `usage_usec: want a number, got "12x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.Read(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to say %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrNotFound) != tt.missing {
					t.Errorf("ErrNotFound %v, want %v (%v)", errors.Is(err, ErrNotFound), tt.missing, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNodeRead(t *testing.T) {
	got, err := (&NodeReader{Proc: os.DirFS("testdata/proc")}).Read()
	if err != nil {
		t.Fatal(err)
	}
	// Busy: user+nice+system+irq+softirq+steal, in 10 ms ticks.
	busy := uint64(874310+0+270234+0+9385+20849) * 10_000_000
	ws := int64(24683584-23298264-241860) * 1024
	if want := (Counters{CPUNanos: busy, WorkingSet: ws}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{in: "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n", want: (1 + 2 + 3 + 6 + 7 + 8) * 10_000_000},
		{in: "cpu 10 0 5 100\n", want: 15 * 10_000_000},
		{in: "intr 1 2\ncpu 1 2\n", wantErr: "want at least 4 times"},
		{in: "cpu 1 x 3 4\n", wantErr: `field 2: want a number, got "x"`},
		{in: "cpu0 1 2 3 4\n", wantErr: "no cpu line"},
		{in: "", wantErr: "no cpu line"},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "MemTotal: 1000 kB\nMemFree: 400 kB\nInactive(file): 100 kB\n", want: 500 * 1024},
		{in: "MemTotal: 1000 kB\nMemFree: 400 kB\nInactive(file): 900 kB\n", want: 0},
		{in: "MemTotal: 1000 kB\nMemFree: 2000 kB\nInactive(file): 1 kB\n", wantErr: "over MemTotal"},
		{in: "MemTotal: 1000 kB\nInactive(file): 1 kB\n", wantErr: "no MemFree line"},
		{in: "MemTotal: lots kB\n", wantErr: `MemTotal: want a number, got "lots"`},
	}
	for _, tt := range tests {
		got, err := parseMeminfo([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/proc/stat", "testdata/proc/meminfo", "testdata/v2/shoal/abc/memory.stat", "testdata/v2/shoal/abc/cpu.stat"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseProcStat(b)
		if ws, err := parseMeminfo(b); err == nil && ws < 0 {
			t.Errorf("negative working set %d", ws)
		}
		_, _ = keyed(b, "usage_usec")
	})
}
