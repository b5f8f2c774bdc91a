package consensus

import (
	"encoding/binary"
	"slices"
	"sort"
)

// Entry is one committed log entry the FSM applied: the state stream's
// unit of change. Data is the entry as raft holds it (a command or a
// batch), so a follower applies it with the same code as a member.
type Entry struct {
	Index uint64 `json:"index"`
	Data  []byte `json:"data"`
}

// Default bounds of the feed: past either, the oldest entries go, and a
// follower that lags further than what is left gets a snapshot instead.
const (
	defaultFeedEntries = 1024
	defaultFeedBytes   = 8 << 20
)

// feed is the tail of the applied log, kept in memory for the state
// stream: every entry after base, in index order. Entries are never
// modified once added, and the slice is only ever appended to or replaced
// by a fresh copy, so a reader may keep a subslice after the lock is gone.
type feed struct {
	base       uint64 // the state index the first entry follows
	ents       []fedEntry
	bytes      int // of the entries' wire encodings, which hold their Data
	maxEntries int
	maxBytes   int
}

// fedEntry is an entry as the feed keeps it: with its msgpack encoding
// made once when it is added, so that a member with many followers writes
// the same bytes to each instead of encoding the entry once per follower.
// Data lies inside wire, so the entry's bytes are held once.
type fedEntry struct {
	Entry
	wire []byte
}

func (f *feed) setLimits(entries, bytes int) {
	if entries <= 0 {
		entries = defaultFeedEntries
	}
	if bytes <= 0 {
		bytes = defaultFeedBytes
	}
	f.maxEntries, f.maxBytes = entries, bytes
}

// reset starts the feed afresh after the state at index base (a restored
// snapshot).
func (f *feed) reset(base uint64) {
	f.base, f.ents, f.bytes = base, nil, 0
}

// add appends e, dropping the oldest half when a bound is passed (half, so
// that the copy is amortised over many adds). The newest entry always
// stays, however large.
func (f *feed) add(e Entry) {
	fe := encodeEntry(e)
	f.ents = append(f.ents, fe)
	f.bytes += len(fe.wire)
	if len(f.ents) <= f.maxEntries && f.bytes <= f.maxBytes {
		return
	}
	keep, size := 0, 0
	for i := len(f.ents) - 1; i >= 0; i-- {
		if keep > 0 && (keep >= f.maxEntries/2 || size+len(f.ents[i].wire) > f.maxBytes/2) {
			break
		}
		keep++
		size += len(f.ents[i].wire)
	}
	cut := len(f.ents) - keep
	if cut == 0 {
		return // one entry, over the bound alone: it stays
	}
	f.base = f.ents[cut-1].Index
	f.ents = slices.Clone(f.ents[cut:])
	f.bytes = size
}

// since returns the entries after index, and whether the feed holds all of
// them. ok is false when index is before the feed's base: the caller needs
// a snapshot. An index at or past the newest entry gets none, with ok.
func (f *feed) since(index uint64) (ents []fedEntry, ok bool) {
	if index < f.base {
		return nil, false
	}
	i := sort.Search(len(f.ents), func(i int) bool { return f.ents[i].Index > index })
	return f.ents[i:len(f.ents):len(f.ents)], true
}

// The msgpack bytes an Entry is made of with mh: a map of its two fields,
// the codec writing them in the order of their names, the Data as bin
// since mh.WriteExt is set. Written by hand, into one allocation of the
// exact size and with no error to handle; TestEntryWire holds them equal
// to what the codec writes.
const (
	mpFixmap2  = 0x82
	mpNil      = 0xc0
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpFixarray = 0x90
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	keyData    = "\xa4data" // fixstr
	keyIndex   = "\xa5index"
)

// encodeEntry returns e with its wire encoding, its Data moved into it.
func encodeEntry(e Entry) fedEntry {
	b := make([]byte, 0, 1+len(keyData)+5+len(e.Data)+len(keyIndex)+9)
	b = append(b, mpFixmap2)
	b = append(b, keyData...)
	data := e.Data
	if data == nil {
		b = append(b, mpNil)
	} else {
		b = appendBinHeader(b, len(data))
		at := len(b)
		b = append(b, data...)
		data = b[at:len(b):len(b)]
	}
	b = append(b, keyIndex...)
	b = appendUint(b, e.Index)
	return fedEntry{Entry: Entry{Index: e.Index, Data: data}, wire: b}
}

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(b, byte(v))
	case v <= 0xff:
		return append(b, mpUint8, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

func appendBinHeader(b []byte, n int) []byte {
	switch {
	case n <= 0xff:
		return append(b, mpBin8, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, mpBin16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpBin32), uint32(n))
}

// appendEntriesHead appends what precedes n entries' encodings in an
// entries frame: the frame type and the array's length, as encodeFrame
// writes them for a []Entry.
func appendEntriesHead(b []byte, n int) []byte {
	b = append(b, frameEntries) // a positive fixint
	switch {
	case n < 16:
		return append(b, mpFixarray|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpArray32), uint32(n))
}
