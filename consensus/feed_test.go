package consensus

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// TestEntryWire: the encoding the feed makes by hand once per entry is
// byte for byte what the codec writes for the Entry, and the entry it
// keeps is the one added.
func TestEntryWire(t *testing.T) {
	type tc struct {
		index uint64
		data  []byte
	}
	var tests []tc
	for _, i := range []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		for _, d := range [][]byte{nil, {}, {7}, bytes.Repeat([]byte{1}, 255), bytes.Repeat([]byte{2}, 256), bytes.Repeat([]byte{3}, 65535), bytes.Repeat([]byte{4}, 65536)} {
			tests = append(tests, tc{i, d})
		}
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("index %d, %d bytes, nil %v", tc.index, len(tc.data), tc.data == nil), func(t *testing.T) {
			e := Entry{Index: tc.index, Data: tc.data}
			var want []byte
			if err := codec.NewEncoderBytes(&want, mh).Encode(e); err != nil {
				t.Fatal(err)
			}
			fe := encodeEntry(e)
			if !bytes.Equal(fe.wire, want) {
				t.Fatalf("wire % x\nwant % x", head(fe.wire), head(want))
			}
			if fe.Index != tc.index || !bytes.Equal(fe.Data, tc.data) || (fe.Data == nil) != (tc.data == nil) {
				t.Fatalf("entry kept: index %d, %d bytes (nil %v)", fe.Index, len(fe.Data), fe.Data == nil)
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 32)] }

// TestEntriesFrame: an entries frame written from the shared encodings is
// what encodeFrame writes for the same []Entry, at every array length
// form of msgpack.
func TestEntriesFrame(t *testing.T) {
	for _, n := range []int{1, 2, 15, 16, 255, 256, 65535, 65536} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ents := make([]Entry, n)
			fed := make([]fedEntry, n)
			for i := range ents {
				ents[i] = Entry{Index: uint64(i + 1), Data: []byte{byte(i)}}
				fed[i] = encodeEntry(ents[i])
			}
			if got, want := writeFrame(t, fed), encodeEntries(t, ents); !bytes.Equal(got, want) {
				t.Fatalf("frame of %d entries: % x..., want % x...", n, head(got), head(want))
			}
		})
	}
}

// TestFeedFrames: what a stream writes from the feed decodes, as Follow
// decodes it, to the entries added after the follower's index, and to
// none from before a reset (a restored snapshot), even where new entries
// reuse the old indexes.
func TestFeedFrames(t *testing.T) {
	ents := func(tag string, idx ...uint64) []Entry {
		var out []Entry
		for _, i := range idx {
			out = append(out, Entry{Index: i, Data: fmt.Appendf(nil, "%s-%d", tag, i)})
		}
		return out
	}
	type step struct {
		add   []Entry
		reset *uint64
	}
	at := func(i uint64) *uint64 { return &i }
	tests := []struct {
		name       string
		maxEntries int
		steps      []step
		since      uint64
		want       []Entry
		ok         bool
	}{
		{name: "the entries after the index", steps: []step{{add: ents("a", 1, 2, 3)}}, since: 1, want: ents("a", 2, 3), ok: true},
		{name: "a large entry", steps: []step{{add: []Entry{{Index: 1, Data: bytes.Repeat([]byte{9}, 70000)}}}}, since: 0, want: []Entry{{Index: 1, Data: bytes.Repeat([]byte{9}, 70000)}}, ok: true},
		{name: "reset, then the same indexes again", steps: []step{{add: ents("old", 1, 2, 3)}, {reset: at(0)}, {add: ents("new", 1, 2, 3)}}, since: 0, want: ents("new", 1, 2, 3), ok: true},
		{name: "reset past the old entries", steps: []step{{add: ents("old", 1, 2, 3)}, {reset: at(10)}, {add: ents("new", 11)}}, since: 10, want: ents("new", 11), ok: true},
		{name: "reset: an old index needs a snapshot", steps: []step{{add: ents("old", 1, 2, 3)}, {reset: at(10)}, {add: ents("new", 11)}}, since: 2, ok: false},
		{name: "after a cut", maxEntries: 4, steps: []step{{add: ents("a", 1, 2, 3, 4, 5, 6)}}, since: 3, want: ents("a", 4, 5, 6), ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f feed
			f.setLimits(tc.maxEntries, 0)
			for _, s := range tc.steps {
				if s.reset != nil {
					f.reset(*s.reset)
				}
				for _, e := range s.add {
					f.add(e)
				}
			}
			fed, ok := f.since(tc.since)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			frame := writeFrame(t, fed)
			if want := encodeEntries(t, tc.want); !bytes.Equal(frame, want) {
				t.Fatalf("frame % x..., want % x...", head(frame), head(want))
			}
			entriesEqual(t, decodeEntries(t, frame), tc.want)
		})
	}
}

// TestFeedFramesAfterRestore: after the FSM restores a snapshot, its
// stream serves the entries applied since, and none of those it held
// before: a follower from before the snapshot gets the snapshot.
func TestFeedFramesAfterRestore(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"a", "b", "c"} {
		h.must(&PutNode{Node: testNode(n, 1000, 1<<30)})
	}
	other := newHarness(t)
	for _, n := range []string{"p", "q", "r", "s", "t"} {
		other.must(&PutNode{Node: testNode(n, 1000, 1<<30)})
	}
	sink := &memSink{}
	if err := (&fsmSnapshot{state: other.state()}).Persist(sink); err != nil {
		t.Fatal(err)
	}
	if err := h.f.Restore(readCloser{bytes.NewReader(sink.Bytes())}); err != nil {
		t.Fatal(err)
	}
	var want []Entry
	for i, n := range []string{"y", "z"} {
		e := Entry{Index: uint64(6 + i), Data: mustEncode(t, &PutNode{Node: testNode(n, 1000, 1<<30)})[0]}
		if r := h.f.Apply(&raft.Log{Index: e.Index, Type: raft.LogCommand, Data: e.Data}).(Result); r.Err != nil || r.Ignored {
			t.Fatalf("apply %d: %+v", e.Index, r)
		}
		want = append(want, e)
	}
	if _, _, ok, _ := h.f.since(2); ok {
		t.Fatal("a follower from before the restore is served entries, not the snapshot")
	}
	_, fed, ok, _ := h.f.since(5)
	if !ok {
		t.Fatal("the feed does not reach back to the restored index")
	}
	entriesEqual(t, decodeEntries(t, writeFrame(t, fed)), want)
}

func writeFrame(t *testing.T, ents []fedEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeEntries(w, ents); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encodeEntries is an entries frame as the stream wrote it before the
// feed kept the encodings.
func encodeEntries(t *testing.T, ents []Entry) []byte {
	t.Helper()
	var b []byte
	if err := encodeFrame(codec.NewEncoderBytes(&b, mh), frameEntries, ents); err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeEntries reads one entries frame as Follow does.
func decodeEntries(t *testing.T, frame []byte) []Entry {
	t.Helper()
	dec := codec.NewDecoderBytes(frame, mh)
	var typ uint8
	var ents []Entry
	if err := dec.Decode(&typ); err != nil || typ != frameEntries {
		t.Fatalf("frame type %d: %v", typ, err)
	}
	if err := dec.Decode(&ents); err != nil {
		t.Fatal(err)
	}
	return ents
}

func entriesEqual(t *testing.T, got, want []Entry) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b Entry) bool { return a.Index == b.Index && bytes.Equal(a.Data, b.Data) }) {
		t.Fatalf("entries %d, want %d:\n%+v\n%+v", len(got), len(want), got, want)
	}
}
