package chaos

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// OpKind is what a client did to an object.
type OpKind string

// Register writes and reads act on one object's value (a ConfigMap's
// counter, a Deployment's replicas); Create makes a new object whose
// survival the lost-write check verifies.
const (
	Write  OpKind = "write"
	Read   OpKind = "read"
	Create OpKind = "create"
)

// Status is an operation's outcome as the client saw it.
type Status string

// OK: acknowledged. Fail: surely not applied (refused before it was sent).
// Unknown: timed out or failed in a way that leaves it open whether it was
// applied: a write that may have happened, at any time after its call.
const (
	OK      Status = "ok"
	Fail    Status = "fail"
	Unknown Status = "unknown"
)

// Absent is the value a read of a missing object returns.
const Absent = ""

// Op is one client operation. Call and Return are offsets on the
// recorder's monotonic clock, so a step of the wall clock cannot reorder
// them.
type Op struct {
	Client int
	Kind   OpKind
	Key    string
	// Value is what was written, or what was read (Absent: not found).
	Value        string
	Call, Return time.Duration
	Status       Status
	// Detail is the error of a failed or unknown op, for messages.
	Detail string
}

func (o Op) String() string {
	return fmt.Sprintf("client %d %s %s=%q [%v, %v] %s", o.Client, o.Kind, o.Key, o.Value,
		o.Call.Round(time.Millisecond), o.Return.Round(time.Millisecond), o.Status)
}

// Recorder collects the ops of concurrent clients.
type Recorder struct {
	start time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewRecorder starts a history at start (a time.Now() value: its
// monotonic reading is what offsets are taken from).
func NewRecorder(start time.Time) *Recorder { return &Recorder{start: start} }

// Since is the offset of t on the recorder's clock.
func (r *Recorder) Since(t time.Time) time.Duration { return t.Sub(r.start) }

// Add records one finished op.
func (r *Recorder) Add(o Op) {
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

// Ops is a copy of the history so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// registerInput is one register operation for the model.
type registerInput struct {
	write bool
	value string
}

// RegisterModel is a set of registers, one per key, each starting Absent:
// a read returns the value of the latest write. Partitioned by key, so the
// checker works on one object at a time.
var RegisterModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Metadata.(string)
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], o)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return Absent },
	Step: func(state, input, output any) (bool, any) {
		in := input.(registerInput)
		if in.write {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	Equal: func(a, b any) bool { return a.(string) == b.(string) },
	DescribeOperation: func(input, output any) string {
		in := input.(registerInput)
		if in.write {
			return fmt.Sprintf("write %q", in.value)
		}
		return fmt.Sprintf("read %q", output)
	},
}

// porcupineOps turns the register ops of a history into porcupine's: an
// acknowledged op spans its call and return; a write of unknown outcome
// may take effect at any time after its call, so it never returns; a
// failed write and a read that did not answer (no value observed) say
// nothing and are left out.
//
// So is a write of unknown outcome whose value no read returned: whether
// it happened or not changes no read, since a linearization that has it
// stays one without it (the next operation on the register after it is a
// write, or nothing). Each such write would multiply the orders the
// checker tries; faults that stop an agent make dozens.
func porcupineOps(ops []Op) []porcupine.Operation {
	type kv struct{ key, value string }
	read := map[kv]bool{}
	for _, o := range ops {
		if o.Kind == Read && o.Status == OK {
			read[kv{o.Key, o.Value}] = true
		}
	}
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Kind != Write && o.Kind != Read {
			continue
		}
		ret := int64(o.Return)
		switch {
		case o.Status == OK:
		case o.Kind == Write && o.Status == Unknown && read[kv{o.Key, o.Value}]:
			ret = math.MaxInt64
		default:
			continue
		}
		out = append(out, porcupine.Operation{
			ClientId: o.Client,
			Input:    registerInput{write: o.Kind == Write, value: o.Value},
			Output:   o.Value,
			Call:     int64(o.Call),
			Return:   ret,
			Metadata: o.Key,
		})
	}
	return out
}

// Verdict is the linearizability check's answer.
type Verdict struct {
	// Result is porcupine's: Ok, Illegal or Unknown (timed out).
	Result porcupine.CheckResult
	// Ops is how many operations were checked.
	Ops int
	// Detail names, for an illegal history, the key and the longest
	// prefix of it that linearizes.
	Detail string
}

// Linearizable checks the register ops of a history, giving up after
// timeout (Result Unknown then).
func Linearizable(ops []Op, timeout time.Duration) Verdict {
	h := porcupineOps(ops)
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, h, timeout)
	v := Verdict{Result: res, Ops: len(h)}
	if res == porcupine.Illegal {
		v.Detail = illegalDetail(h, info)
	}
	return v
}

// illegalDetail describes where the history stops linearizing: per
// partition, the longest linearizable prefix's length and the ops of the
// partition, the first key that fails.
func illegalDetail(h []porcupine.Operation, info porcupine.LinearizationInfo) string {
	parts := RegisterModel.Partition(h)
	partial := info.PartialLinearizationsOperations()
	for i, p := range parts {
		if i >= len(partial) {
			break
		}
		best := 0
		for _, l := range partial[i] {
			best = max(best, len(l))
		}
		if best == len(p) {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "key %s: at most %d of its %d ops linearize; its ops by call time:", p[0].Metadata, best, len(p))
		sorted := slices.Clone(p)
		slices.SortFunc(sorted, func(a, b porcupine.Operation) int { return int(a.Call - b.Call) })
		for j, o := range sorted {
			if j == 40 {
				fmt.Fprintf(&b, "\n  ... %d more", len(sorted)-j)
				break
			}
			ret := "never"
			if o.Return != math.MaxInt64 {
				ret = time.Duration(o.Return).Round(time.Millisecond).String()
			}
			fmt.Fprintf(&b, "\n  client %d %s [%v, %s]", o.ClientId, RegisterModel.DescribeOperation(o.Input, o.Output),
				time.Duration(o.Call).Round(time.Millisecond), ret)
		}
		return b.String()
	}
	return "illegal history (no partition's prefix located)"
}

// LostWrites lists the acknowledged creates of a history whose objects
// are not in present (what a consistent read lists at the end).
func LostWrites(ops []Op, present map[string]bool) []string {
	var lost []string
	for _, o := range ops {
		if o.Kind == Create && o.Status == OK && !present[o.Key] {
			lost = append(lost, o.Key)
		}
	}
	sort.Strings(lost)
	return lost
}

// Counts tallies a history's ops as "kind/status" → n.
func Counts(ops []Op) map[string]int {
	out := map[string]int{}
	for _, o := range ops {
		out[string(o.Kind)+"/"+string(o.Status)]++
	}
	return out
}
