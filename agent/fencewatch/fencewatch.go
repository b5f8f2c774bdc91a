// Package fencewatch keeps a node's fencing promise when its agent cannot.
//
// A node may run its StatefulSet pods only while its fencing lease holds:
// once the lease has surely run out, the leader places them elsewhere. The
// agent stops them itself when it sees its lease lapse (agent/node/fence.go),
// but its containers outlive it by design (an agent restart or upgrade
// does not restart pods), so an agent that is killed, crashes or stops
// for longer than the lease would leave a second copy of a StatefulSet pod
// writing its data. The watchdog is a small process in its own session,
// started by the agent, that outlives it:
//
//   - at each renewal the agent writes the lease's deadline to a file in
//     its data dir (on the boot clock, which counts a suspend) and pokes
//     the watchdog through a pipe;
//   - when the deadline passes unrenewed, the watchdog kills the node's
//     StatefulSet containers through their cgroups (runtime.KillFenced),
//     needing neither the agent nor containerd, whether the agent lives or
//     not;
//   - when the pipe closes (the agent is gone, however it went) the
//     watchdog waits for the deadline, then fences and exits; a restarted
//     agent's first renewal writes its own run into the file, and the old
//     watchdog, seeing it, leaves the guard to the new one.
//
// The agent starts its watchdog at its first renewal, and renews only
// while it is assigned a StatefulSet pod: a node that never is runs none.
// Once it holds no lease and the last deadline has passed, the agent
// closes the pipe as if it were gone, waits for the watchdog to fence that
// deadline and leave, and removes the file; the next renewal starts
// another watchdog.
package fencewatch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"shoal/internal/atomicfile"
)

const (
	// File holds the deadline, in the agent's data dir.
	File = "fence.json"
	// LogFile is where the watchdog logs, in the data dir: not the agent's
	// stderr, which may be a pipe its supervisor waits to see closed.
	LogFile = "fence-watchdog.log"
	// Command is the shoal subcommand that runs the watchdog.
	Command = "fence-watchdog"
	// maxLogSize is when LogFile is rotated, at a watchdog's start.
	maxLogSize = 1 << 20
	// releaseByte, sent on the pipe before it closes, says the agent let
	// the watchdog go rather than died (a renewal's poke is 'r').
	releaseByte = 'q'
)

// record is the content of File.
type record struct {
	// Run names the agent process that wrote it.
	Run string `json:"run"`
	// Deadline is when the lease runs out, on CLOCK_BOOTTIME.
	Deadline time.Duration `json:"deadlineBoottimeNs"`
}

// Boottime reads CLOCK_BOOTTIME: like the monotonic clock no wall-clock
// step moves it, and unlike it it counts a suspend, during which the
// leader's clock ran on.
func Boottime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_BOOTTIME): %v", err)) // Linux has had it since 2.6.39
	}
	return time.Duration(ts.Nano())
}

func readRecord(dataDir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dataDir, File))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("read %s: %w", filepath.Join(dataDir, File), err)
	}
	return rec, nil
}

// Keeper is the agent's side: it starts the watchdog at the first renewal
// it is told of, starts another if that one exits while the agent runs,
// tells it of each renewal, and lets it go when the node holds no lease.
type Keeper struct {
	ctx               context.Context
	exe, dataDir, run string
	log               *slog.Logger

	mu sync.Mutex
	// poke is the write end of the current watchdog's pipe, nil while
	// none guards this run's renewals; release is closed to let it go.
	poke    *os.File
	release chan struct{}
	// gen counts the watchdogs started at a renewal: a released one's
	// supervisor removes File only if no renewal started another since.
	// cur is the name the current one guards under.
	gen int
	cur string
}

// NewKeeper prepares the watchdog (exe fence-watchdog, exe being the shoal
// binary) for the agent whose data dir is dataDir. Nothing runs until the
// first renewal: a node that never runs a StatefulSet pod has nothing to
// fence, and does not pay for a process that idles for its whole life.
// When ctx ends a started watchdog is left running, told only that the
// agent is gone: it stays on guard until the lease it knows runs out.
func NewKeeper(ctx context.Context, exe, dataDir string, log *slog.Logger) *Keeper {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &Keeper{ctx: ctx, exe: exe, dataDir: dataDir, run: hex.EncodeToString(id), log: log.With("component", "fence-watchdog")}
}

// Armed reports whether a deadline was left in dataDir by a watchdog
// still on guard, or not yet released: StatefulSet containers an earlier
// run started may still run there, and an agent restarted over them
// renews, and so takes over their guard, before its state may show them.
func Armed(dataDir string) bool {
	_, err := os.Lstat(filepath.Join(dataDir, File))
	return !errors.Is(err, fs.ErrNotExist)
}

// started starts a watchdog if none guards this run's renewals; the
// caller holds k.mu.
func (k *Keeper) started() error {
	if k.poke != nil {
		return nil
	}
	if err := k.ctx.Err(); err != nil {
		return fmt.Errorf("start fencing watchdog: agent stopping: %w", err)
	}
	// Each watchdog started at a renewal guards under its own name: a
	// released one that sees another's deadline in File leaves at once,
	// as on an agent's restart, instead of guarding it too.
	run := fmt.Sprintf("%s.%d", k.run, k.gen+1)
	cmd, w, err := k.spawn(run)
	if err != nil {
		return err
	}
	k.gen++
	k.cur, k.poke, k.release = run, w, make(chan struct{})
	go k.supervise(cmd, w, run, k.release, k.gen)
	return nil
}

// Release lets the watchdog go: the node holds no lease and the last
// deadline it was told has passed. It is told, as when the agent is gone,
// and leaves once that deadline is fenced; its data dir is then no longer
// Armed. A renewal after this starts another.
func (k *Keeper) Release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.poke == nil {
		return
	}
	close(k.release)
	k.poke, k.release = nil, nil
}

// spawn starts one watchdog in its own session, so that a signal to the
// agent's process group (a Ctrl-C, a supervisor's stop) does not reach it.
func (k *Keeper) spawn(run string) (*exec.Cmd, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("start fencing watchdog: %w", err)
	}
	defer r.Close()
	logPath := filepath.Join(k.dataDir, LogFile)
	// A watchdog logs a few lines a life, but an agent in a crash loop
	// starts one every few seconds: one older file is kept beside.
	if st, err := os.Stat(logPath); err == nil && st.Size() > maxLogSize {
		_ = os.Rename(logPath, logPath+".1")
	}
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("start fencing watchdog: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(k.exe, Command, "--data-dir", k.dataDir, "--run", run)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, nil, fmt.Errorf("start fencing watchdog %s: %w", k.exe, err)
	}
	k.log.Debug("fencing watchdog started", "pid", cmd.Process.Pid)
	return cmd, w, nil
}

// supervise reaps the watchdog whose pipe is w and starts another while
// the agent runs, until it is released or the agent's context ends. It
// then closes the pipe, the watchdog's word that nobody renews any more (a
// crashed agent's pipe closes with it); a released watchdog is waited for.
func (k *Keeper) supervise(cmd *exec.Cmd, w *os.File, run string, release <-chan struct{}, gen int) {
	defer func() {
		k.mu.Lock()
		w.Close()
		k.mu.Unlock()
	}()
	for {
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-k.ctx.Done():
			return
		case <-release:
			k.released(w, exited, gen)
			return
		case err := <-exited:
			k.log.Warn("fencing watchdog exited; starting another", "err", err)
		}
		next, nw := k.respawn(run, release)
		if next == nil {
			return
		}
		k.mu.Lock()
		if k.poke == w {
			k.poke = nw
		}
		w.Close()
		k.mu.Unlock()
		cmd, w = next, nw
	}
}

// respawn starts another watchdog a second after one exited, and again
// until one starts; nil when it is released or the agent's context ends
// first.
func (k *Keeper) respawn(run string, release <-chan struct{}) (*exec.Cmd, *os.File) {
	for {
		select {
		case <-k.ctx.Done():
			return nil, nil
		case <-release:
			return nil, nil
		case <-time.After(time.Second):
		}
		next, w, err := k.spawn(run)
		if err == nil {
			return next, w
		}
		k.log.Warn("fencing watchdog", "err", err)
	}
}

// released lets a released watchdog go and waits for it: once it has
// left, having fenced its last deadline, File is removed, unless a
// renewal has since started another watchdog, whose File it is.
func (k *Keeper) released(w *os.File, exited <-chan error, gen int) {
	k.mu.Lock()
	_ = w.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = w.Write([]byte{releaseByte}) // for its log only: EOF is the word
	w.Close()
	k.mu.Unlock()
	var err error
	select {
	case <-k.ctx.Done():
		return
	case err = <-exited:
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil || k.gen != gen {
		k.log.Debug("fencing watchdog released", "err", err, "superseded", k.gen != gen)
		return
	}
	if err := os.Remove(filepath.Join(k.dataDir, File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		k.log.Warn("fencing watchdog released", "err", err)
		return
	}
	k.log.Debug("fencing watchdog released: no lease held here")
}

// Renewed records that the lease now runs until deadline (on this
// process's clock) and wakes the watchdog to read it, starting it at the
// first renewal. The watchdog runs before the deadline is written: a
// restarted agent's deadline is an earlier run's watchdog's word to leave,
// and nothing may then be left unguarded.
func (k *Keeper) Renewed(deadline time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.started(); err != nil {
		return err
	}
	b, err := json.Marshal(record{Run: k.cur, Deadline: Boottime() + time.Until(deadline)})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(k.dataDir, File), b, 0o600); err != nil {
		return fmt.Errorf("record fencing deadline: %w", err)
	}
	// A watchdog that does not read (stopped, or being replaced) must not
	// hold up the renewals: it reads the file when its timer fires anyway.
	_ = k.poke.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = k.poke.Write([]byte{'r'})
	return nil
}

// Watchdog is the watchdog process's side.
type Watchdog struct {
	// DataDir is the agent's data dir; Run names the agent run that
	// started this watchdog.
	DataDir, Run string
	// Agent is the pipe from the agent: a byte per renewal, EOF when the
	// agent is gone or, after a releaseByte, has let this watchdog go.
	Agent io.Reader
	// Fence kills the node's StatefulSet containers (runtime.KillFenced).
	Fence func() error
	// Now reads the boot clock (Boottime when nil).
	Now func() time.Duration
	// Retry spaces the tries of a fencing that failed (a second when 0).
	Retry time.Duration
	// Idle, when set, runs each time the watchdog goes back to waiting
	// (cmd/shoal gives the binary's pages back then).
	Idle func()
	Log  *slog.Logger
}

// Guard guards the deadline in the file until the agent is gone and nothing
// is left to guard: a deadline passed is fenced (once per deadline). When
// ctx ends (the watchdog is being stopped) with its agent gone, it fences
// at once: nobody would later.
func (w *Watchdog) Guard(ctx context.Context) error {
	now := w.Now
	if now == nil {
		now = Boottime
	}
	pokes, gone := make(chan struct{}, 1), make(chan struct{})
	// gone means the agent is gone unless it said it released this
	// watchdog first; either way no renewal will come. Read after gone.
	why := "agent gone"
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := w.Agent.Read(buf)
			if bytes.IndexByte(buf[:n], releaseByte) >= 0 {
				why = "released by its agent, which holds no lease"
			}
			if err != nil {
				close(gone)
				return
			}
			select {
			case pokes <- struct{}{}:
			default:
			}
		}
	}()
	agentGone := false
	fenced := time.Duration(-1) // the deadline last fenced
	tries := 0                  // failed fencings of the deadline at hand
	for {
		rec, err := readRecord(w.DataDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			rec = record{} // never renewed: nothing was promised
		case err != nil:
			// Unreadable: the safe reading is a lease run out.
			w.Log.Warn("fencing deadline unreadable: taking the lease as run out", "err", err)
			rec = record{Run: w.Run}
		}
		if agentGone && rec.Run != "" && rec.Run != w.Run {
			w.Log.Info("a newer agent renewed its lease and runs its own watchdog; leaving", "run", rec.Run)
			return nil
		}
		var timer <-chan time.Time
		if rec.Run != "" && rec.Deadline != fenced {
			switch left := rec.Deadline - now(); {
			case left > 0:
				timer, tries = time.After(left), 0
			case w.fence(agentGone) == nil || tries == maxFenceTries-1:
				fenced, tries = rec.Deadline, 0
			default:
				// A kill that failed (a process in a cgroup being torn
				// down) is tried again, a few times.
				tries++
				timer = time.After(cmp.Or(w.Retry, time.Second))
			}
		}
		if agentGone && timer == nil {
			w.Log.Info(why + ", and its lease fenced or never taken: leaving")
			return nil
		}
		if w.Idle != nil {
			w.Idle()
		}
		select {
		case <-ctx.Done():
			if agentGone && rec.Run != "" && rec.Deadline != fenced {
				w.Log.Warn("watchdog stopped before the lease ran out, with no renewal to come (" + why + "): fencing now")
				_ = w.fence(true)
			}
			return ctx.Err()
		case <-pokes:
		case <-gone:
			agentGone, gone = true, nil
			w.Log.Info(why + ": guarding its fencing lease until it runs out or a new agent renews it")
		case <-timer:
		}
	}
}

// maxFenceTries bounds the tries of a fencing that fails.
const maxFenceTries = 10

func (w *Watchdog) fence(agentGone bool) error {
	err := w.Fence()
	if err != nil {
		w.Log.Error("fencing: killing StatefulSet containers", "err", err, "agent_gone", agentGone)
		return err
	}
	w.Log.Debug("fencing lease ran out: StatefulSet containers killed", "agent_gone", agentGone)
	return nil
}
