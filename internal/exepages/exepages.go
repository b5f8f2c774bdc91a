// Package exepages keeps the pages of the running executable that count
// toward its resident set to those it uses.
//
// The kernel keeps a freshly written or read binary in the page cache as
// large folios and maps a whole folio on the first touch of any of its
// pages: an agent that ran a few kilobytes of a package's code holds the
// megabytes around it, so nearly all of a 38 MB binary is resident though
// the agent runs a small part of it. Advising random access makes the
// kernel read the executable page by page from then on; releasing the
// pages start-up mapped (package initialisation, flag parsing, code the
// agent ran once) leaves resident what the agent touches afterwards.
package exepages

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Region is one read-only mapping of the executable, [Start, End).
type Region struct{ Start, End uintptr }

// Regions returns the read-only mappings of the file exe in r, the text
// of /proc/PID/maps. Writable mappings (the data and bss segments) are
// left out: releasing their pages would lose what the program wrote.
func Regions(r io.Reader, exe string) ([]Region, error) {
	var out []Region
	s := bufio.NewScanner(r)
	for line := 1; s.Scan(); line++ {
		// address perms offset dev inode path; the path, which may hold
		// spaces, is the rest of the line.
		f := strings.Fields(s.Text())
		if len(f) < 6 {
			continue // anonymous mappings have no path
		}
		if strings.Join(f[5:], " ") != exe || len(f[1]) != 4 || f[1][1] == 'w' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("maps line %d: address %q: expected START-END in hex", line, f[0])
		}
		start, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("maps line %d: start %q: expected hex: %w", line, lo, err)
		}
		end, err := strconv.ParseUint(hi, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("maps line %d: end %q: expected hex: %w", line, hi, err)
		}
		if end <= start {
			return nil, fmt.Errorf("maps line %d: address %q: end not above start", line, f[0])
		}
		out = append(out, Region{Start: uintptr(start), End: uintptr(end)})
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read maps: %w", err)
	}
	return out, nil
}

// Segment is a PT_LOAD or PT_GNU_RELRO segment of the executable, at the
// addresses it is mapped at [Start, End).
type Segment struct {
	Start, End uintptr
	// Writable: a PT_LOAD with PF_W; Relro: a PT_GNU_RELRO, which the
	// dynamic loader wrote before making it read-only.
	Writable, Relro bool
}

// Droppable returns the regions whose pages may be dropped from this
// process's mappings (MADV_DONTNEED) and read again from the file: those
// wholly inside a read-only PT_LOAD segment and clear of the RELRO pages.
// Dropping a page the program or its loader wrote would bring back the
// file's bytes in place of what was written.
func Droppable(regions []Region, segs []Segment) []Region {
	const page = 4096
	var out []Region
	for _, r := range regions {
		inReadOnly, touchesWritten := false, false
		for _, s := range segs {
			switch {
			case s.Relro || s.Writable:
				lo, hi := s.Start&^(page-1), (s.End+page-1)&^(page-1)
				if r.Start < hi && lo < r.End {
					touchesWritten = true
				}
			case s.Start <= r.Start && r.End <= (s.End+page-1)&^(page-1):
				inReadOnly = true
			}
		}
		if inReadOnly && !touchesWritten {
			out = append(out, r)
		}
	}
	return out
}
