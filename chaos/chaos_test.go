package chaos

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var testConfig = Config{Nodes: 5, Faults: 3, Kinds: AllKinds, MinHold: 2 * time.Second, MaxHold: 6 * time.Second, Gap: time.Second}

func TestGenerateIsDeterministic(t *testing.T) {
	for _, seed := range []int64{0, 1, 42, -7, 1 << 40} {
		a, err := Generate(seed, testConfig)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Generate(seed, testConfig)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("seed %d: two schedules differ:\n%+v\n%+v", seed, a, b)
		}
		if len(a.Faults) != 3 {
			t.Errorf("seed %d: %d faults, want 3", seed, len(a.Faults))
		}
		for _, f := range a.Faults {
			if f.Hold < testConfig.MinHold || f.Hold > testConfig.MaxHold {
				t.Errorf("seed %d: hold %v outside %v..%v", seed, f.Hold, testConfig.MinHold, testConfig.MaxHold)
			}
			if got := slices.Sorted(slices.Values(f.Perm)); !reflect.DeepEqual(got, []int{0, 1, 2, 3, 4}) {
				t.Errorf("seed %d: perm %v is not a permutation of 5 agents", seed, f.Perm)
			}
		}
	}
	a, _ := Generate(1, testConfig)
	b, _ := Generate(2, testConfig)
	if reflect.DeepEqual(a.Faults, b.Faults) {
		t.Error("seeds 1 and 2 gave the same faults")
	}
}

// Consecutive seeds start with every kind in turn: a short run covers
// as many kinds as it has rounds.
func TestGenerateCoversKinds(t *testing.T) {
	seen := map[Kind]bool{}
	for seed := int64(100); seed < 100+int64(len(AllKinds)); seed++ {
		s, _ := Generate(seed, testConfig)
		seen[s.Faults[0].Kind] = true
	}
	if len(seen) != len(AllKinds) {
		t.Errorf("%d consecutive seeds started with %d kinds, want all %d: %v", len(AllKinds), len(seen), len(AllKinds), seen)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"nodes", func(c *Config) { c.Nodes = 2 }, "Nodes 2"},
		{"faults", func(c *Config) { c.Faults = 0 }, "Faults 0"},
		{"kinds", func(c *Config) { c.Kinds = nil }, "Kinds empty"},
		{"hold", func(c *Config) { c.MaxHold = time.Second }, "hold 2s..1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig
			tc.mod(&c)
			_, err := Generate(1, c)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Generate: %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds(" netem,kill9-leader,,netem ")
	if err != nil || !reflect.DeepEqual(got, []Kind{Netem, KillLeader}) {
		t.Errorf("ParseKinds: %v, %v", got, err)
	}
	if _, err := ParseKinds("netem,flood"); err == nil || !strings.Contains(err.Error(), `"flood"`) {
		t.Errorf("ParseKinds of an unknown kind: %v, want an error naming it", err)
	}
}

func TestPlan(t *testing.T) {
	perm := []int{2, 0, 4, 1, 3}
	for _, tc := range []struct {
		kind          Kind
		leader        int
		targets, peer []int
		via           int
	}{
		{KillLeader, 4, []int{4}, nil, -1},
		{KillLeader, -1, []int{2}, nil, -1},
		{IsolateLeader, 1, []int{1}, nil, -1},
		{KillFollower, 2, []int{0}, nil, -1}, // perm[0] leads: the next one
		{KillFollower, 1, []int{2}, nil, -1},
		{PowerOff, 2, []int{2}, nil, -1}, // drawn the leader: powers it off
		{PowerOff, 0, []int{2}, nil, -1},
		{Netem, 2, []int{0}, nil, -1},
		{DiskFull, 3, []int{2}, nil, -1},
		{PartitionMinority, 0, []int{2, 0}, nil, -1},
		{OneWay, 4, []int{2}, []int{4}, -1}, // a follower stops hearing the leader
		{OneWay, 2, []int{2}, []int{0}, -1}, // the leader stops hearing a follower
		{OneWay, -1, []int{2}, []int{0}, -1},
		{Bridge, 0, []int{0, 4}, []int{1, 3}, 2},
		{Bridge, 2, []int{2, 4}, []int{1, 3}, 0}, // the leader is never the bridge
		{Bridge, -1, []int{0, 4}, []int{1, 3}, 2},
		{ClockJump, 0, []int{2}, nil, -1},
		{RestartAll, 0, []int{0, 1, 2, 3, 4}, nil, -1},
	} {
		a, err := Plan(Fault{Kind: tc.kind, Perm: perm}, 5, tc.leader)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Targets, tc.targets) || !reflect.DeepEqual(a.Peers, tc.peer) || a.Via != tc.via {
			t.Errorf("%s leader %d: targets %v peers %v via %d, want %v %v %d", tc.kind, tc.leader, a.Targets, a.Peers, a.Via, tc.targets, tc.peer, tc.via)
		}
	}
	if _, err := Plan(Fault{Kind: KillLeader, Perm: []int{0, 1}}, 5, 0); err == nil {
		t.Error("Plan with a permutation of the wrong size: no error")
	}
	if _, err := Plan(Fault{Kind: "flood", Perm: perm}, 5, 0); err == nil {
		t.Error("Plan of an unknown kind: no error")
	}
}

// op builds a register op with call and return in milliseconds.
func op(client int, kind OpKind, key, value string, call, ret int, st Status) Op {
	return Op{Client: client, Kind: kind, Key: key, Value: value, Call: time.Duration(call) * time.Millisecond, Return: time.Duration(ret) * time.Millisecond, Status: st}
}

func TestLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"sequential", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(1, Read, "a", "1", 20, 30, OK),
			op(0, Write, "a", "2", 40, 50, OK),
			op(1, Read, "a", "2", 60, 70, OK),
		}, porcupine.Ok},
		{"concurrent read may see either", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 60, OK),
			op(1, Read, "a", "1", 25, 30, OK),
			op(2, Read, "a", "2", 30, 35, OK),
		}, porcupine.Ok},
		{"stale read after an acknowledged write", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 30, OK),
			op(1, Read, "a", "1", 40, 50, OK),
		}, porcupine.Illegal},
		{"lost acknowledged write: absent after it", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(1, Read, "a", Absent, 20, 30, OK),
		}, porcupine.Illegal},
		{"reads go back in time", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 100, OK),
			op(1, Read, "a", "2", 30, 40, OK),
			op(2, Read, "a", "1", 50, 60, OK),
		}, porcupine.Illegal},
		{"unknown write may apply late", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 30, Unknown),
			op(1, Read, "a", "1", 40, 50, OK),
			op(1, Read, "a", "2", 500, 510, OK),
		}, porcupine.Ok},
		{"failed write never applies", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 30, Fail),
			op(1, Read, "a", "2", 40, 50, OK),
		}, porcupine.Illegal},
		{"a value nobody wrote", []Op{
			op(1, Read, "a", "9", 40, 50, OK),
		}, porcupine.Illegal},
		{"keys are separate registers", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(1, Write, "b", "1", 0, 10, OK),
			op(1, Read, "b", "1", 20, 30, OK),
			op(0, Read, "a", "1", 20, 30, OK),
		}, porcupine.Ok},
		{"an unknown write nobody read changes nothing", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(0, Write, "a", "2", 20, 30, Unknown),
			op(1, Read, "a", "1", 40, 50, OK),
		}, porcupine.Ok},
		{"an unknown write read before it was called", []Op{
			op(1, Read, "a", "2", 0, 5, OK),
			op(0, Write, "a", "2", 20, 30, Unknown),
		}, porcupine.Illegal},
		{"a read that failed says nothing", []Op{
			op(0, Write, "a", "1", 0, 10, OK),
			op(1, Read, "a", "garbage", 20, 30, Unknown),
		}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Linearizable(tc.ops, 10*time.Second)
			if v.Result != tc.want {
				t.Errorf("result %v, want %v (%s)", v.Result, tc.want, v.Detail)
			}
			if tc.want == porcupine.Illegal && !strings.Contains(v.Detail, "key a") {
				t.Errorf("detail %q does not name the key", v.Detail)
			}
		})
	}
}

// Unknown writes whose value no read returned are left out of what the
// checker searches; those read are kept.
func TestLinearizablePrunesUnreadUnknownWrites(t *testing.T) {
	ops := []Op{
		op(0, Write, "a", "1", 0, 10, OK),
		op(0, Write, "a", "2", 20, 30, Unknown),
		op(0, Write, "a", "3", 20, 30, Unknown),
		op(0, Write, "a", "4", 20, 30, Fail),
		op(1, Read, "a", "3", 40, 50, OK),
		op(1, Read, "a", "", 40, 50, Unknown),
	}
	if v := Linearizable(ops, 10*time.Second); v.Result != porcupine.Ok || v.Ops != 3 {
		t.Errorf("result %v over %d ops, want Ok over 3 (write 1, write 3, read 3)", v.Result, v.Ops)
	}
}

func TestLostWrites(t *testing.T) {
	ops := []Op{
		{Kind: Create, Key: "c-1", Status: OK},
		{Kind: Create, Key: "c-2", Status: OK},
		{Kind: Create, Key: "c-3", Status: Unknown},
		{Kind: Create, Key: "c-4", Status: Fail},
		{Kind: Write, Key: "c-5", Status: OK},
	}
	if got := LostWrites(ops, map[string]bool{"c-1": true, "c-2": true}); len(got) != 0 {
		t.Errorf("nothing lost, got %v", got)
	}
	if got := LostWrites(ops, map[string]bool{"c-1": true, "c-3": true}); !reflect.DeepEqual(got, []string{"c-2"}) {
		t.Errorf("lost %v, want [c-2]", got)
	}
}

func TestParseBeats(t *testing.T) {
	b, err := ParseBeats("db-0", "agent1", "x", "10.50\n11.00\n11.5")
	if err != nil || len(b) != 3 || b[2].At != 11500*time.Millisecond {
		t.Errorf("ParseBeats: %v, %v", b, err)
	}
	b, err = ParseBeats("db-0", "agent1", "x", "10.50\n11.0")
	if err != nil || len(b) != 2 {
		t.Errorf("ParseBeats: %v, %v", b, err)
	}
	if b, err = ParseBeats("db-0", "agent1", "x", "10.50\n1"); err != nil || len(b) != 2 {
		t.Errorf("a short last line is a beat: %v, %v", b, err)
	}
	if b, err = ParseBeats("db-0", "agent1", "x", "10.50\n11."+"\x00"); err != nil || len(b) != 1 {
		t.Errorf("a torn last line is skipped: %v, %v", b, err)
	}
	if _, err := ParseBeats("db-0", "agent1", "x", "10.50\nboom\n12\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad line in the middle: %v, want an error naming line 2", err)
	}
}

func beats(pod, node, inc string, from, to int) []Beat {
	var out []Beat
	for s := from; s <= to; s++ {
		out = append(out, Beat{Pod: pod, Node: node, Incarnation: inc, At: time.Duration(s) * time.Second})
	}
	return out
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		beats []Beat
		want  int
	}{
		{"one copy", beats("db-0", "n1", "a", 0, 10), 0},
		{"hand-over", append(beats("db-0", "n1", "a", 0, 10), beats("db-0", "n2", "b", 15, 20)...), 0},
		{"two at once on two nodes", append(beats("db-0", "n1", "a", 0, 10), beats("db-0", "n2", "b", 8, 20)...), 1},
		{"two at once on one node", append(beats("db-0", "n1", "a", 0, 10), beats("db-0", "n1", "b", 9, 20)...), 1},
		{"other ordinals may run together", append(beats("db-0", "n1", "a", 0, 10), beats("db-1", "n2", "b", 0, 10)...), 0},
		{"three copies", append(append(beats("db-1", "n1", "a", 0, 10), beats("db-1", "n2", "b", 5, 20)...), beats("db-1", "n3", "c", 9, 30)...), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Overlaps(tc.beats)
			if len(got) != tc.want {
				t.Errorf("%d overlaps, want %d: %v", len(got), tc.want, got)
			}
			for _, o := range got {
				if !strings.Contains(o.String(), "ran twice at once") {
					t.Errorf("overlap message %q", o)
				}
			}
		})
	}
}

func TestConverged(t *testing.T) {
	if s := Converged(map[string]Count{"web": {3, 3, 3}, "db": {2, 2, 2}}); s != "" {
		t.Errorf("converged: %q", s)
	}
	s := Converged(map[string]Count{"web": {3, 3, 4}, "db": {2, 1, 1}})
	if !strings.Contains(s, "web: want 3, 3 Ready in the API, 4 running") || !strings.Contains(s, "db: want 2") {
		t.Errorf("not converged: %q", s)
	}
}

func TestReport(t *testing.T) {
	r := Report{BaseSeed: 7, Kinds: []Kind{KillLeader, Netem}, Replay: "CHAOS_SEED=%d go test", Took: time.Minute}
	r.Rounds = []Round{
		{Seed: 7, Actions: []Action{{Kind: KillLeader, Targets: []int{0}}, {Kind: Netem, Targets: []int{1}}},
			Checks: []CheckResult{{Name: CheckLinearizable, Passed: true}, {Name: CheckConverged, Passed: true}},
			Ops:    map[string]int{"write/ok": 3}, Converge: 5 * time.Second},
		{Seed: 8, Actions: []Action{{Kind: KillLeader, Targets: []int{2}}},
			Checks: []CheckResult{{Name: CheckLinearizable, Passed: false, Detail: "key a: bad"}, {Name: CheckConverged, Passed: true}}},
	}
	r.Final = []CheckResult{{Name: CheckNoLeaks, Passed: true}}
	if got := r.FaultsByKind(); got[KillLeader] != 2 || got[Netem] != 1 {
		t.Errorf("faults by kind %v", got)
	}
	passed, failed := r.Tally()
	if passed[CheckLinearizable] != 1 || failed[CheckLinearizable] != 1 || passed[CheckConverged] != 2 || passed[CheckNoLeaks] != 1 {
		t.Errorf("tally %v / %v", passed, failed)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"2 rounds from seed 7", "kill9-leader         2", "total                3",
		"linearizable         1/1", "FAILED rounds, seeds [8]", "CHAOS_SEED=8 go test", "FAIL linearizable: key a: bad", "after teardown"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
