package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"
)

// Containerd is a containerd daemon supervised by the agent: its config,
// root, state and socket live under one directory.
type Containerd struct {
	dir     string
	address string
	bin     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	waitErr error
	logger  *slog.Logger
}

// containerdConfig is containerd 1.x's config version 2 (also read by 2.x).
// The CRI plugin is disabled: Shoal talks to containerd's own API, and CRI
// would start its own CNI and image machinery we do not want.
const containerdConfig = `version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`

// maxSocketPath is below the kernel's sun_path limit (108) with room for
// the ".ttrpc" suffix.
const maxSocketPath = 100

// StartContainerd writes a config under dir, starts containerd as a child of
// this process and returns once its socket answers. The child dies with the
// agent (Pdeathsig); container shims do not, so running containers survive
// an agent restart and are adopted through ListPods.
func StartContainerd(ctx context.Context, dir string, logger *slog.Logger) (*Containerd, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "containerd")
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	for _, d := range []string{"root", "state", "opt"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o711); err != nil {
			return nil, fmt.Errorf("start containerd: %w", err)
		}
	}
	sock := filepath.Join(dir, "containerd.sock")
	if len(sock)+len(".ttrpc") > maxSocketPath {
		// Unix socket paths are limited; deep data dirs (tests) fall back
		// to a short directory of their own.
		short, err := os.MkdirTemp("", "shoal-ctrd-")
		if err != nil {
			return nil, fmt.Errorf("start containerd: %w", err)
		}
		sock = filepath.Join(short, "containerd.sock")
	}
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"),
		sock, sock+".ttrpc", filepath.Join(dir, "opt"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	c := &Containerd{dir: dir, address: sock, bin: bin, logger: logger}
	if err := c.launch(ctx); err != nil {
		c.removeShortDir()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	return c, nil
}

// Restart starts containerd again, after it exited (or was killed), with
// the same config, root, state and socket: a client of the old one
// reconnects to the same address, and containerd reattaches to the shims,
// so the containers kept running. It returns the new process.
func (c *Containerd) Restart(ctx context.Context) (*Containerd, error) {
	select {
	case <-c.exited:
	default:
		return nil, fmt.Errorf("restart containerd: pid %d is still running", c.Pid())
	}
	if err := os.MkdirAll(filepath.Dir(c.address), 0o711); err != nil {
		return nil, fmt.Errorf("restart containerd: %w", err)
	}
	// A killed containerd leaves its socket behind.
	for _, s := range []string{c.address, c.address + ".ttrpc"} {
		if err := os.Remove(s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("restart containerd: %w", err)
		}
	}
	n := &Containerd{dir: c.dir, address: c.address, bin: c.bin, logger: c.logger}
	if err := n.launch(ctx); err != nil {
		return nil, fmt.Errorf("restart containerd: %w", err)
	}
	return n, nil
}

// launch starts the process and waits for its socket; on failure nothing
// is left running.
func (c *Containerd) launch(ctx context.Context) error {
	logPath := filepath.Join(c.dir, "containerd.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	c.exited = make(chan struct{})
	c.cmd = exec.Command(c.bin, "--config", filepath.Join(c.dir, "config.toml"))
	c.cmd.Stdout = logFile
	c.cmd.Stderr = logFile
	// Its own process group: a Ctrl-C at the agent's terminal must not
	// reach containerd directly; the agent stops it in its shutdown order.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}

	// Pdeathsig fires when the *thread* that forked the child exits, not
	// the process. Go may retire a thread (any goroutine that exits while
	// locked to it, e.g. the one that creates a network namespace), so the
	// child is started and waited for from a goroutine that keeps its
	// thread locked for the child's whole life.
	started := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		defer logFile.Close()
		if err := c.cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	c.logger.Info("containerd started", "pid", c.cmd.Process.Pid, "address", c.address)

	if err := c.waitReady(ctx); err != nil {
		c.terminate()
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return nil
}

// waitReady polls the socket until containerd accepts connections, the
// child exits, or ctx ends.
func (c *Containerd) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("unix", c.address, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("containerd exited: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("containerd socket %s not ready: %w", c.address, ctx.Err())
		case <-tick.C:
		}
	}
}

// Address is the containerd socket.
func (c *Containerd) Address() string { return c.address }

// Dir is the directory holding containerd's config, root and state.
func (c *Containerd) Dir() string { return c.dir }

// Pid is the containerd process ID.
func (c *Containerd) Pid() int { return c.cmd.Process.Pid }

// Exited is closed once containerd has exited, for whatever reason; the
// agent decides whether that is fatal.
func (c *Containerd) Exited() <-chan struct{} { return c.exited }

// Kill kills containerd (SIGKILL) and waits for it to be reaped: what the
// agent does to a containerd that stopped answering before starting it
// anew. Shims and their containers keep running.
func (c *Containerd) Kill() {
	c.logger.Warn("killing containerd", "pid", c.Pid())
	c.kill()
}

func (c *Containerd) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Stop asks containerd to exit (SIGTERM), waits up to 10 s, then kills it.
// Shims and their containers keep running.
func (c *Containerd) Stop() error {
	select {
	case <-c.exited:
	default:
		c.terminate()
	}
	c.removeShortDir()
	var exitErr *exec.ExitError
	if c.waitErr != nil && !errors.As(c.waitErr, &exitErr) {
		return fmt.Errorf("stop containerd: %w", c.waitErr)
	}
	return nil
}

// terminate sends SIGTERM, waits up to 10 s, then kills.
func (c *Containerd) terminate() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.logger.Warn("containerd did not exit on SIGTERM; killing it")
		c.kill()
	}
}

// removeShortDir removes the socket directory made for a data dir too
// deep for a socket path.
func (c *Containerd) removeShortDir() {
	if dir := filepath.Dir(c.address); strings.HasPrefix(filepath.Base(dir), "shoal-ctrd-") {
		_ = os.RemoveAll(dir)
	}
}
