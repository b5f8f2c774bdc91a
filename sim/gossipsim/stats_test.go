package gossipsim

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"shoal/sim/spread"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// seq returns 1..n.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestWriteTable(t *testing.T) {
	r := Result{N: 100, Profile: "lan", Network: NetMem, MetaBytes: 166, Lost: 7, Join: time.Second, Form: 2 * time.Second,
		Detect:    spread.Of(ms(seq(99)...), 99),
		Meta:      spread.Of(ms(1, 2), 98),
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
	for _, want := range []string{"100", "lan", "mem", "166", "7", "0.10s", "0.05s", "2/98", "0.50%", "600", "400K"} {
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
	if o := (Options{N: 3, Network: "tcp"}); o.defaults() == nil {
		t.Fatal("network tcp: want an error")
	}
	if o := (Options{N: 3, JoinRate: -1}); o.defaults() == nil {
		t.Fatal("join rate -1: want an error")
	}
	o := Options{N: 3}
	if err := o.defaults(); err != nil || o.Profile != "lan" || o.Network != NetUDP || o.BindAddr != "127.0.0.1" || o.PhaseTimeout <= 0 {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
}
