package fencewatch

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shoal/internal/atomicfile"
	"shoal/internal/poll"
)

// TestMain doubles as the watchdog process for TestKeeper: the Keeper
// runs this test binary as `<exe> fence-watchdog --data-dir D --run R`,
// and its fencing writes D/fenced, with the boot time it fenced at.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Command {
		fs := flag.NewFlagSet(Command, flag.ExitOnError)
		dir := fs.String("data-dir", "", "")
		run := fs.String("run", "", "")
		_ = fs.Parse(os.Args[2:])
		w := &Watchdog{DataDir: *dir, Run: *run, Agent: os.Stdin, Log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
			Fence: func() error {
				return os.WriteFile(filepath.Join(*dir, "fenced"), []byte(Boottime().String()), 0o600)
			}}
		if err := w.Guard(context.Background()); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeDeadline(t *testing.T, dir, run string, in time.Duration) time.Duration {
	t.Helper()
	d := Boottime() + in
	b, _ := json.Marshal(record{Run: run, Deadline: d})
	if err := atomicfile.Write(filepath.Join(dir, File), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// guard runs a Watchdog of run "me" on dir in the background: the
// returned pipe is its agent (write to poke, close for gone).
func guard(t *testing.T, ctx context.Context, dir string) (agent *io.PipeWriter, fenced *atomic.Int32, fencedAt *atomic.Int64, done chan error) {
	r, w := io.Pipe()
	fenced, fencedAt = &atomic.Int32{}, &atomic.Int64{}
	wd := &Watchdog{DataDir: dir, Run: "me", Agent: r, Log: slog.New(slog.DiscardHandler),
		Fence: func() error { fenced.Add(1); fencedAt.Store(int64(Boottime())); return nil }}
	done = make(chan error, 1)
	go func() { done <- wd.Guard(ctx) }()
	t.Cleanup(func() { w.Close() })
	return w, fenced, fencedAt, done
}

func waitDone(t *testing.T, done chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatal("the watchdog did not leave")
		return nil
	}
}

func TestGuard(t *testing.T) {
	const lease = 300 * time.Millisecond
	tests := []struct {
		name string
		run  func(t *testing.T, dir string)
	}{
		{"agent gone: fences once the deadline passes, not before, then leaves", func(t *testing.T, dir string) {
			d := writeDeadline(t, dir, "me", lease)
			agent, fenced, at, done := guard(t, context.Background(), dir)
			agent.Close()
			if err := waitDone(t, done, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if fenced.Load() != 1 || time.Duration(at.Load()) < d {
				t.Fatalf("fenced %d times, at %v; the deadline was %v", fenced.Load(), time.Duration(at.Load()), d)
			}
		}},
		{"agent gone: a renewal by a newer agent hands the guard over", func(t *testing.T, dir string) {
			writeDeadline(t, dir, "me", lease)
			agent, fenced, _, done := guard(t, context.Background(), dir)
			agent.Close()
			writeDeadline(t, dir, "newer", time.Hour)
			if err := waitDone(t, done, 10*time.Second); err != nil || fenced.Load() != 0 {
				t.Fatalf("left with %v after fencing %d times; want 0: the newer agent's lease holds", err, fenced.Load())
			}
		}},
		{"agent gone, never renewed: nothing to guard", func(t *testing.T, dir string) {
			agent, fenced, _, done := guard(t, context.Background(), dir)
			agent.Close()
			if err := waitDone(t, done, 10*time.Second); err != nil || fenced.Load() != 0 {
				t.Fatalf("left with %v after fencing %d times", err, fenced.Load())
			}
		}},
		{"agent alive: renewals keep moving the deadline; a lapse fences once; a later renewal is guarded again", func(t *testing.T, dir string) {
			agent, fenced, _, done := guard(t, context.Background(), dir)
			for range 5 {
				writeDeadline(t, dir, "me", lease)
				_, _ = agent.Write([]byte{'r'})
				time.Sleep(lease / 3)
			}
			if n := fenced.Load(); n != 0 {
				t.Fatalf("fenced %d times while the lease was renewed", n)
			}
			poll.Until(t, 10*time.Second, "the lapsed lease fenced", poll.Bool(func() bool { return fenced.Load() == 1 }))
			time.Sleep(2 * lease)
			if n := fenced.Load(); n != 1 {
				t.Fatalf("fenced %d times for one lapse", n)
			}
			writeDeadline(t, dir, "me", lease)
			_, _ = agent.Write([]byte{'r'})
			poll.Until(t, 10*time.Second, "the second lapse fenced", poll.Bool(func() bool { return fenced.Load() == 2 }))
			agent.Close()
			if err := waitDone(t, done, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}},
		{"a failed fencing is tried again, a bounded number of times", func(t *testing.T, dir string) {
			writeDeadline(t, dir, "me", 0)
			for _, failures := range []int{2, 100} {
				r, agent := io.Pipe()
				var calls atomic.Int32
				wd := &Watchdog{DataDir: dir, Run: "me", Agent: r, Log: slog.New(slog.DiscardHandler), Retry: 10 * time.Millisecond,
					Fence: func() error {
						if int(calls.Add(1)) <= failures {
							return errors.New("EBUSY")
						}
						return nil
					}}
				agent.Close()
				if err := wd.Guard(context.Background()); err != nil {
					t.Fatal(err)
				}
				if want := min(failures+1, maxFenceTries); int(calls.Load()) != want {
					t.Errorf("%d failures: fenced %d times, want %d", failures, calls.Load(), want)
				}
			}
		}},
		{"unreadable deadline: taken as run out", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, File), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			agent, fenced, _, done := guard(t, context.Background(), dir)
			agent.Close()
			if err := waitDone(t, done, 10*time.Second); err != nil || fenced.Load() != 1 {
				t.Fatalf("left with %v after fencing %d times; want once", err, fenced.Load())
			}
		}},
		{"stopped with the agent gone before the deadline: fences at once", func(t *testing.T, dir string) {
			d := writeDeadline(t, dir, "me", time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			agent, fenced, at, done := guard(t, ctx, dir)
			agent.Close()
			time.Sleep(lease) // until it has seen the pipe close
			cancel()
			_ = waitDone(t, done, 10*time.Second)
			if fenced.Load() != 1 || time.Duration(at.Load()) >= d {
				t.Fatalf("fenced %d times, at %v (deadline %v); want once, at the stop", fenced.Load(), time.Duration(at.Load()), d)
			}
		}},
		{"stopped with the agent alive: leaves the guard to the agent", func(t *testing.T, dir string) {
			writeDeadline(t, dir, "me", time.Hour)
			ctx, cancel := context.WithCancel(context.Background())
			_, fenced, _, done := guard(t, ctx, dir)
			cancel()
			_ = waitDone(t, done, 10*time.Second)
			if n := fenced.Load(); n != 0 {
				t.Fatalf("fenced %d times", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, t.TempDir())
		})
	}
}

// TestKeeper runs the watchdog as its own process (this test binary, see
// TestMain): it outlives the Keeper's context, the agent's end, and fences
// once the last renewal's deadline has passed, not before.
func TestKeeper(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	k := NewKeeper(ctx, exe, dir, slog.New(slog.DiscardHandler))
	for range 3 {
		if err := k.Renewed(time.Now().Add(500 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "fenced")); err == nil {
		t.Fatal("fenced while the lease was renewed")
	}
	rec, err := readRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, File)); st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", File, st.Mode().Perm())
	}
	cancel() // the agent is gone
	poll.Until(t, 10*time.Second, "the watchdog to fence", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(dir, "fenced"))
		if err != nil {
			return false, err.Error()
		}
		at, err := time.ParseDuration(string(b))
		if err != nil || at < rec.Deadline {
			t.Fatalf("fenced at %q, before the deadline %v", b, rec.Deadline)
		}
		return true, ""
	})
}

// TestKeeperRestartsWatchdog: a watchdog killed while its agent runs is
// replaced by another.
func TestKeeperRestartsWatchdog(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := newKeeper(t, exe, dir).Renewed(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var first int
	poll.Until(t, 10*time.Second, "the watchdog", func() (bool, string) {
		pids := watchdogsOf(dir)
		if len(pids) == 1 {
			first = pids[0]
		}
		return len(pids) == 1, fmt.Sprint(pids)
	})
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "another watchdog", func() (bool, string) {
		pids := watchdogsOf(dir)
		return len(pids) == 1 && pids[0] != first, fmt.Sprint(pids)
	})
}

// TestKeeperStartsAtFirstRenewal: no watchdog runs before the first
// renewal, one runs after it, and a renewal whose watchdog cannot start
// fails without writing the deadline, which would tell an earlier run's
// watchdog to leave.
func TestKeeperStartsAtFirstRenewal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		exe   string
		armed bool // after the renewal
	}{
		{"starts", exe, true},
		{"cannot start", filepath.Join(t.TempDir(), "missing"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			k := newKeeper(t, tt.exe, dir)
			time.Sleep(100 * time.Millisecond)
			if pids := watchdogsOf(dir); len(pids) != 0 || Armed(dir) {
				t.Fatalf("before any renewal: watchdogs %v, armed %v", pids, Armed(dir))
			}
			err := k.Renewed(time.Now().Add(time.Minute))
			if (err == nil) != tt.armed || Armed(dir) != tt.armed {
				t.Fatalf("renewal: err %v, armed %v, want armed %v", err, Armed(dir), tt.armed)
			}
			if !tt.armed {
				return
			}
			if pids := watchdogsOf(dir); len(pids) != 1 {
				t.Fatalf("after the renewal: watchdogs %v, want one", pids)
			}
			for range 3 {
				if err := k.Renewed(time.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			if pids := watchdogsOf(dir); len(pids) != 1 {
				t.Fatalf("after more renewals: watchdogs %v, want still one", pids)
			}
		})
	}
}

// TestKeeperRelease: a released watchdog fences its last deadline, leaves,
// and its deadline file goes (a restart starts none); a renewal then starts
// another. Released and at once renewed again, the file stays: it is the
// new watchdog's.
func TestKeeperRelease(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, renewAtOnce := range []bool{false, true} {
		t.Run(fmt.Sprintf("renewed at once %v", renewAtOnce), func(t *testing.T) {
			dir := t.TempDir()
			k := newKeeper(t, exe, dir)
			if err := k.Renewed(time.Now().Add(300 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			first := watchdogsOf(dir)
			if len(first) != 1 {
				t.Fatalf("watchdogs %v, want one", first)
			}
			poll.Until(t, 10*time.Second, "the deadline fenced", func() (bool, string) {
				_, err := os.Stat(filepath.Join(dir, "fenced"))
				return err == nil, fmt.Sprint(err)
			})
			k.Release()
			if renewAtOnce {
				// A deadline the released watchdog would guard until it
				// passed if it took it for its own.
				if err := k.Renewed(time.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			poll.Until(t, 10*time.Second, "the released watchdog to leave", func() (bool, string) {
				pids := watchdogsOf(dir)
				return !slices.Contains(pids, first[0]), fmt.Sprint(pids)
			})
			if renewAtOnce {
				if pids := watchdogsOf(dir); len(pids) != 1 || !Armed(dir) {
					t.Fatalf("renewed after the release: watchdogs %v, armed %v", pids, Armed(dir))
				}
				return
			}
			poll.Until(t, 10*time.Second, "the deadline file removed", poll.Bool(func() bool { return !Armed(dir) }))
			if b, _ := os.ReadFile(filepath.Join(dir, LogFile)); !strings.Contains(string(b), "released by its agent") {
				t.Errorf("the watchdog's log does not say it was released:\n%s", b)
			}
			if err := k.Renewed(time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if pids := watchdogsOf(dir); len(pids) != 1 || pids[0] == first[0] || !Armed(dir) {
				t.Fatalf("renewed after the release: watchdogs %v (first %d), armed %v", pids, first[0], Armed(dir))
			}
		})
	}
}

// newKeeper is a Keeper whose agent ends with the test, and whose
// watchdogs, which would guard a deadline past it, are killed then.
func newKeeper(t *testing.T, exe, dir string) *Keeper {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		for _, pid := range watchdogsOf(dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		poll.Until(t, 10*time.Second, "the watchdogs to exit", func() (bool, string) {
			pids := watchdogsOf(dir)
			return len(pids) == 0, fmt.Sprint(pids)
		})
	})
	return NewKeeper(ctx, exe, dir, slog.New(slog.DiscardHandler))
}

// watchdogsOf lists the live watchdog processes of data dir dir.
func watchdogsOf(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), Command+"\x00--data-dir\x00"+dir+"\x00") {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue // exited, not yet reaped
		}
		out = append(out, pid)
	}
	return out
}

// TestKeeperRotatesLog: a log past its size is moved aside when a
// watchdog starts, and the new one starts a fresh file.
func TestKeeperRotatesLog(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	big := make([]byte, maxLogSize+1)
	if err := os.WriteFile(filepath.Join(dir, LogFile), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := newKeeper(t, exe, dir).Renewed(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	old, err := os.Stat(filepath.Join(dir, LogFile+".1"))
	if err != nil || old.Size() != maxLogSize+1 {
		t.Fatalf("the old log: %v, %v", old, err)
	}
	cur, err := os.Stat(filepath.Join(dir, LogFile))
	if err != nil || cur.Size() > maxLogSize || cur.Mode().Perm() != 0o600 {
		t.Fatalf("the new log: %v, %v", cur, err)
	}
}
