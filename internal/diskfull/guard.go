package diskfull

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Defaults of a Guard. The reserve leaves room for what the agent writes
// without asking (containerd's metadata, logs, snapshots of the Raft
// state); the ballast is what Raft may still take once the disk is full.
const (
	DefaultReserve = 64 << 20
	DefaultBallast = 8 << 20
	// BallastFile is the ballast's name in the data dir.
	BallastFile = "space-ballast"
)

// Usage is a filesystem's space: Free is what an unprivileged write may
// still take (statfs's f_bavail).
type Usage struct{ Free, Total uint64 }

// Statfs reads the usage of the filesystem holding dir.
func Statfs(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return Usage{Free: st.Bavail * uint64(st.Bsize), Total: st.Blocks * uint64(st.Bsize)}, nil
}

// Guard watches the free space of a data dir. Check refuses writes below
// the reserve; Release frees the ballast for the writes that must not fail
// (Raft's term and vote: hashicorp/raft panics when it cannot store them);
// Refresh puts the ballast back once space has returned.
type Guard struct {
	dir              string
	reserve, ballast uint64
	statfs           func(string) (Usage, error)

	mu   sync.Mutex
	full bool
	last Usage
}

// NewGuard guards dir: writes are refused while less than reserve bytes
// are free, and a ballast of ballast bytes is kept (zero values take the
// defaults; a ballast of reserve or more is invalid: the guard would
// refuse writes as soon as it is released).
func NewGuard(dir string, reserve, ballast uint64) (*Guard, error) {
	if reserve == 0 {
		reserve = DefaultReserve
	}
	if ballast == 0 {
		ballast = min(DefaultBallast, reserve/2)
	}
	if ballast >= reserve {
		return nil, fmt.Errorf("data dir reserve %s: must exceed the ballast of %s", Bytes(reserve), Bytes(ballast))
	}
	return &Guard{dir: dir, reserve: reserve, ballast: ballast, statfs: Statfs}, nil
}

// Dir is the guarded directory.
func (g *Guard) Dir() string { return g.dir }

// Check refuses a write with an *Error while the data dir is below its
// reserve. A filesystem that cannot be read lets the write through: the
// write itself will say what is wrong.
func (g *Guard) Check() error {
	u, err := g.statfs(g.dir)
	if err != nil {
		return nil
	}
	g.mu.Lock()
	g.last, g.full = u, u.Free < g.reserve
	g.mu.Unlock()
	if u.Free < g.reserve {
		return &Error{Dir: g.dir, Free: u.Free, Reserve: g.reserve}
	}
	return nil
}

// Full reports what the last Check or Refresh saw: whether the data dir
// was below its reserve, and its usage.
func (g *Guard) Full() (bool, Usage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.full, g.last
}

// Refresh checks the free space, puts the ballast back when there is room
// for it and the reserve besides, and returns the Check result.
func (g *Guard) Refresh() error {
	err := g.Check()
	if err != nil {
		return err
	}
	path := filepath.Join(g.dir, BallastFile)
	if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
		return nil
	}
	if _, u := g.Full(); u.Free < g.reserve+g.ballast {
		return nil
	}
	return g.makeBallast(path)
}

// makeBallast allocates the ballast's blocks (a sparse file would free
// nothing when removed).
func (g *Guard) makeBallast(path string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create the space ballast: %w", err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, int64(g.ballast))
	if errors.Is(err, unix.EOPNOTSUPP) {
		_, err = f.Write(make([]byte, g.ballast))
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("create the space ballast: %w", err)
	}
	return nil
}

// Release removes the ballast, if there is one, and reports whether it
// did: a write that failed for want of space may then be retried once.
func (g *Guard) Release() bool {
	return os.Remove(filepath.Join(g.dir, BallastFile)) == nil
}
