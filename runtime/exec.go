package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"shoal/runtime/rtapi"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// Exec runs cmd in a running container with the container's environment,
// user and working directory, streaming stdio; it returns the exit code.
// When ctx ends first the process is killed.
func (r *Runtime) Exec(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error) {
	res, err := r.exec(r.ctx(ctx), podUID, container, cmd, stdin, stdout, stderr)
	if err != nil {
		return res, fmt.Errorf("exec in container %s of pod %s: %w", container, podUID, err)
	}
	return res, nil
}

// unanswered marks an error from before the command started as the
// runtime's silence (a deadline or an unreachable containerd) rather than
// an answer such as "no such file": the caller learns nothing about the
// container from it.
func unanswered(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errdefs.IsDeadlineExceeded(err) || errdefs.IsUnavailable(err) {
		return fmt.Errorf("%w: %w", rtapi.ErrRuntimeUnresponsive, err)
	}
	return err
}

func (r *Runtime) exec(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (rtapi.ExecResult, error) {
	if len(cmd) == 0 {
		return rtapi.ExecResult{}, fmt.Errorf("%w: empty command", ErrInvalid)
	}
	ctr, err := r.client.LoadContainer(ctx, ContainerID(podUID, container))
	if err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, notFound(err))
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, fmt.Errorf("container is not running: %w", notFound(err)))
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false

	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// The shim only sees EOF on stdin when told to close it, so the
	// reader signals its EOF and we call CloseIO then.
	var in *eofReader
	var inR io.Reader
	if stdin != nil {
		in = &eofReader{r: stdin, eof: make(chan struct{})}
		inR = in
	}
	execID := "exec-" + randomID()
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(inR, stdout, stderr)))
	if err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, err)
	}
	// Delete with a fresh context: the process must be cleaned up even
	// when ctx was cancelled.
	defer func() {
		dctx, cancel := context.WithTimeout(r.ctx(context.Background()), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.logger.Warn("delete exec process", "exec", execID, "err", err)
		}
	}()
	exited, err := proc.Wait(ctx)
	if err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, err)
	}
	if err := proc.Start(ctx); err != nil {
		return rtapi.ExecResult{}, unanswered(ctx, err)
	}
	if in != nil {
		go func() {
			select {
			case <-in.eof:
				_ = proc.CloseIO(ctx, client.WithStdinCloser)
			case <-ctx.Done():
			}
		}()
	}
	select {
	case st := <-exited:
		// Let the output copy drain before the caller reads it.
		proc.IO().Wait()
		code, _, err := st.Result()
		if err != nil {
			return rtapi.ExecResult{}, err
		}
		return rtapi.ExecResult{ExitCode: int(code)}, nil
	case <-ctx.Done():
		_ = proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return rtapi.ExecResult{}, ctx.Err()
	}
}

// eofReader closes eof once the wrapped reader is exhausted.
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func notFound(err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

// logPollInterval is how often a followed log is checked for new output.
const logPollInterval = 200 * time.Millisecond

// Logs copies the container's log (stdout and stderr of every attempt) to
// w; with follow it keeps copying new output until ctx ends, which is then
// not an error.
func (r *Runtime) Logs(ctx context.Context, podUID, container string, follow bool, w io.Writer) error {
	if err := r.logs(ctx, podUID, container, follow, w); err != nil {
		return fmt.Errorf("logs of container %s of pod %s: %w", container, podUID, err)
	}
	return nil
}

func (r *Runtime) logs(ctx context.Context, podUID, container string, follow bool, w io.Writer) error {
	if err := errors.Join(validName(podUID), validName(container)); err != nil {
		return err
	}
	path := r.logPath(podUID, container)
	var f *os.File
	for {
		var err error
		f, err = os.Open(path)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if !follow {
			return fmt.Errorf("%w: no log", ErrNotFound)
		}
		// Followed before the container wrote anything: wait for it.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logPollInterval):
		}
	}
	defer f.Close()
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
