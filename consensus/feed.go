package consensus

import (
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
	ents       []Entry
	bytes      int
	maxEntries int
	maxBytes   int
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
	f.ents = append(f.ents, e)
	f.bytes += len(e.Data)
	if len(f.ents) <= f.maxEntries && f.bytes <= f.maxBytes {
		return
	}
	keep, size := 0, 0
	for i := len(f.ents) - 1; i >= 0; i-- {
		if keep > 0 && (keep >= f.maxEntries/2 || size+len(f.ents[i].Data) > f.maxBytes/2) {
			break
		}
		keep++
		size += len(f.ents[i].Data)
	}
	cut := len(f.ents) - keep
	f.base = f.ents[cut-1].Index
	f.ents = slices.Clone(f.ents[cut:])
	f.bytes = size
}

// since returns the entries after index, and whether the feed holds all of
// them. ok is false when index is before the feed's base: the caller needs
// a snapshot. An index at or past the newest entry gets none, with ok.
func (f *feed) since(index uint64) (ents []Entry, ok bool) {
	if index < f.base {
		return nil, false
	}
	i := sort.Search(len(f.ents), func(i int) bool { return f.ents[i].Index > index })
	return f.ents[i:len(f.ents):len(f.ents)], true
}
