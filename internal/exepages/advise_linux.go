package exepages

import (
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

func advise(advice int, name string) error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("find the executable: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("read the mappings: %w", err)
	}
	defer f.Close()
	regions, err := Regions(f, exe)
	if err != nil {
		return err
	}
	if len(regions) == 0 {
		return fmt.Errorf("no mapping of %s in /proc/self/maps", exe)
	}
	for _, r := range regions {
		// The raw call: the region is the executable's own mapping, never
		// Go memory, so it needs no []byte over it.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, uintptr(advice)); errno != 0 {
			return fmt.Errorf("%s %#x-%#x: %w", name, r.Start, r.End, errno)
		}
	}
	return nil
}
