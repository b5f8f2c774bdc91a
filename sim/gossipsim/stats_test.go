package gossipsim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		name          string
		seen          []time.Duration
		of            int
		p50, p99, max time.Duration
	}{
		{"all saw, unsorted", ms(30, 10, 20, 40), 4, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
		{"one member", ms(7), 1, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		// 100 members, 99 saw: the p99 is the 99th fastest, all is missing.
		{"one of 100 missing", ms(seq(99)...), 100, 50 * time.Millisecond, 99 * time.Millisecond, -1},
		// 100 members, 98 saw: the 99th fastest does not exist.
		{"two of 100 missing", ms(seq(98)...), 100, 50 * time.Millisecond, -1, -1},
		{"half missing", ms(1, 2), 4, 2 * time.Millisecond, -1, -1},
		{"none saw", nil, 3, -1, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spreadOf(tc.seen, tc.of)
			if s.P50 != tc.p50 || s.P99 != tc.p99 || s.Max != tc.max || s.Seen != len(tc.seen) || s.Of != tc.of {
				t.Fatalf("spreadOf = %+v, want p50 %v p99 %v max %v seen %d of %d", s, tc.p50, tc.p99, tc.max, len(tc.seen), tc.of)
			}
		})
	}
}

// seq returns 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestSpreadOfLeavesInputAlone(t *testing.T) {
	in := ms(3, 1, 2)
	spreadOf(in, 3)
	if in[0] != 3*time.Millisecond {
		t.Fatalf("spreadOf sorted its input: %v", in)
	}
}

func TestWriteTable(t *testing.T) {
	r := Result{N: 100, Profile: "lan", MetaBytes: 166, Join: time.Second, Form: 2 * time.Second,
		Detect:    spreadOf(ms(seq(99)...), 99),
		Meta:      spreadOf(ms(1, 2), 98),
		IdleCores: 0.5, PacketsPerMember: 8, BytesPerMember: 600, HeapPerMember: 400 << 10}
	var b bytes.Buffer
	if err := WriteTable(&b, []Result{r}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row, got %q", b.String())
	}
	row := strings.Fields(lines[1])
	for _, want := range []string{"100", "lan", "166", "0.10s", "0.05s", "2/98", "0.50%", "600", "400K"} {
		if !strings.Contains(" "+strings.Join(row, " ")+" ", " "+want+" ") {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
}

func TestSimMetaFits(t *testing.T) {
	for _, i := range []int{0, 1, 4999, 1 << 20} {
		b, err := SimMeta(i).Encode()
		if err != nil {
			t.Fatalf("member %d's meta: %v", i, err)
		}
		// The simulated node is a large one: its meta must be near the
		// worst case gossip's own test checks, not a toy.
		if len(b) < 150 {
			t.Fatalf("member %d's meta is only %d bytes; the simulation should carry a realistic large node", i, len(b))
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	for _, n := range []int{-1, 0, 2} {
		o := Options{N: n}
		if err := o.defaults(); err == nil || !strings.Contains(err.Error(), "at least 3") {
			t.Fatalf("N=%d: want an error naming the minimum, got %v", n, err)
		}
	}
	o := Options{N: 3}
	if err := o.defaults(); err != nil || o.Profile != "lan" || o.BindAddr != "127.0.0.1" || o.PhaseTimeout <= 0 {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
}
