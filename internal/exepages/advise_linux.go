package exepages

import (
	"debug/elf"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ReadByPage advises the kernel that the executable is read at random:
// a fault then reads and maps the page it needs, not a readahead window
// or a whole large folio.
func ReadByPage() error { return advise(unix.MADV_RANDOM, "MADV_RANDOM") }

// Release gives back the executable's resident pages (MADV_PAGEOUT, Linux
// 5.4 and later): clean file pages, re-read on the next touch. Pages other
// processes map too (another agent, a CLI call running the same binary)
// stay where they are.
func Release() error { return advise(unix.MADV_PAGEOUT, "MADV_PAGEOUT") }

// Drop takes the executable's read-only pages out of this process's
// resident set (MADV_DONTNEED), shared or not; the page cache keeps them
// for whoever else maps them. It is for a second process of the same
// binary that idles, the fencing watchdog: Release reclaims only pages no
// other process maps, so two processes that both touched a page would each
// keep it resident. Pages the loader wrote (RELRO) are left alone.
func Drop() error {
	regions, err := selfRegions()
	if err != nil {
		return err
	}
	segs, err := selfSegments(regions)
	if err != nil {
		return err
	}
	return madvise(Droppable(regions, segs), unix.MADV_DONTNEED, "MADV_DONTNEED")
}

// selfSegments reads the executable's load and RELRO segments, at the
// addresses they are mapped at: a position-independent executable is
// moved by where its first mapping lies.
func selfSegments(regions []Region) ([]Segment, error) {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("read the executable's segments: %w", err)
	}
	defer f.Close()
	var bias uintptr
	if f.Type == elf.ET_DYN {
		low := ^uint64(0)
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD {
				low = min(low, p.Vaddr&^4095)
			}
		}
		bias = regions[0].Start - uintptr(low)
	}
	var segs []Segment
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD && p.Type != elf.PT_GNU_RELRO {
			continue
		}
		segs = append(segs, Segment{Start: uintptr(p.Vaddr) + bias, End: uintptr(p.Vaddr+p.Memsz) + bias,
			Writable: p.Type == elf.PT_LOAD && p.Flags&elf.PF_W != 0, Relro: p.Type == elf.PT_GNU_RELRO})
	}
	return segs, nil
}

func selfRegions() ([]Region, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("find the executable: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("read the mappings: %w", err)
	}
	defer f.Close()
	regions, err := Regions(f, exe)
	if err != nil {
		return nil, err
	}
	if len(regions) == 0 {
		return nil, fmt.Errorf("no mapping of %s in /proc/self/maps", exe)
	}
	return regions, nil
}

func advise(advice int, name string) error {
	regions, err := selfRegions()
	if err != nil {
		return err
	}
	return madvise(regions, advice, name)
}

func madvise(regions []Region, advice int, name string) error {
	for _, r := range regions {
		// The raw call: the region is the executable's own mapping, never
		// Go memory, so it needs no []byte over it.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, uintptr(advice)); errno != 0 {
			return fmt.Errorf("%s %#x-%#x: %w", name, r.Start, r.End, errno)
		}
	}
	return nil
}
