// Package diskfull recognises a full filesystem behind an error, words it
// for the operator, and guards a data dir: writes are refused while its
// free space is below a reserve, and a ballast file holds back a little
// space for the writes Raft cannot do without (its term and vote).
package diskfull

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrFull: the filesystem holding the data dir has no room for a write.
// Every error of this package wraps it.
var ErrFull = errors.New("no space left on device")

// Is reports whether err, however wrapped, says the filesystem is full:
// ENOSPC, EDQUOT (a quota is a full disk to this process) or ErrFull.
func Is(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrFull)
}

// Error is a write refused, or failed, because Dir's filesystem is full.
type Error struct {
	Dir string
	// Err is the failed write's error; nil when the Guard refused the
	// write before it was tried, with Free bytes left below Reserve.
	Err           error
	Free, Reserve uint64
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("the data dir %s is full (%s free, below the %s reserve): free space and retry",
			e.Dir, Bytes(e.Free), Bytes(e.Reserve))
	}
	return fmt.Sprintf("the data dir %s is full (no space left on device): free space and retry", e.Dir)
}

// Unwrap makes errors.Is(err, ErrFull) hold, and keeps the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrFull}
	}
	return []error{ErrFull, e.Err}
}

// Wrap returns err as an *Error naming dir when it says the filesystem is
// full (unless it already is one), and err unchanged otherwise.
func Wrap(dir string, err error) error {
	if err == nil || !Is(err) || errors.As(err, new(*Error)) {
		return err
	}
	return &Error{Dir: dir, Err: err}
}

// Bytes formats n in binary units, as free space is read.
func Bytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
