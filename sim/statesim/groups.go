package statesim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// groupConn is the run's side of a follower group: a child process, or
// RunGroup in this process (tests).
type groupConn struct {
	first, n int
	in       io.WriteCloser
	out      *bufio.Reader
	cmd      *exec.Cmd  // nil in process
	done     chan error // RunGroup's end, in process
	pid      int        // 0 in process
}

// startGroup starts followers [first, first+n). With exe set it runs
// `exe -role followers ...` as a child process, else RunGroup here.
func startGroup(ctx context.Context, exe string, opt GroupOptions) (*groupConn, error) {
	g := &groupConn{first: opt.First, n: opt.N}
	if exe == "" {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		g.in, g.out, g.done = inW, bufio.NewReaderSize(outR, 1<<20), make(chan error, 1)
		go func() {
			err := RunGroup(ctx, opt, inR, outW)
			_ = outW.CloseWithError(errors.Join(err, io.EOF))
			g.done <- err
		}()
	} else {
		args := []string{"-role", "followers", "-first", strconv.Itoa(opt.First), "-n", strconv.Itoa(opt.N),
			"-full", strconv.Itoa(opt.Full), "-since", strconv.FormatUint(opt.Since, 10),
			"-connect", strings.Join(opt.Addrs, ","), "-view=" + strconv.FormatBool(opt.View)}
		g.cmd = exec.CommandContext(ctx, exe, args...)
		g.cmd.Stderr = os.Stderr
		in, err := g.cmd.StdinPipe()
		if err != nil {
			return nil, fmt.Errorf("follower process: %w", err)
		}
		out, err := g.cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("follower process: %w", err)
		}
		if err := g.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start follower process %v: %w", args, err)
		}
		g.in, g.out, g.pid = in, bufio.NewReaderSize(out, 1<<20), g.cmd.Process.Pid
	}
	line, err := g.recv()
	if err != nil || !strings.HasPrefix(line, "ready ") {
		_ = g.close()
		return nil, fmt.Errorf("follower group %d+%d: not ready: %q %w", opt.First, opt.N, line, err)
	}
	return g, nil
}

func (g *groupConn) send(cmd string) error {
	if _, err := io.WriteString(g.in, cmd+"\n"); err != nil {
		return fmt.Errorf("follower group %d: send %q: %w", g.first, cmd, err)
	}
	return nil
}

func (g *groupConn) recv() (string, error) {
	line, err := g.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("follower group %d: read: %w", g.first, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

func (g *groupConn) close() error {
	_ = g.in.Close() // ends the group's command loop
	if g.cmd != nil {
		done := make(chan error, 1)
		go func() { done <- g.cmd.Wait() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			_ = g.cmd.Process.Kill()
			return <-done
		}
	}
	return <-g.done
}

// cpu is the group's process CPU time (0 in process).
func (g *groupConn) cpu() time.Duration {
	if g.pid == 0 {
		return 0
	}
	return procCPU(g.pid)
}

// ask sends cmd to every group and returns their answers in order.
func ask(gs []*groupConn, cmd string) ([]string, error) {
	for _, g := range gs {
		if err := g.send(cmd); err != nil {
			return nil, err
		}
	}
	out := make([]string, len(gs))
	for i, g := range gs {
		line, err := g.recv()
		if err != nil {
			return nil, err
		}
		out[i] = line
	}
	return out, nil
}

// clockTick is the kernel's USER_HZ, the unit of /proc/<pid>/stat times:
// 100 on every Linux this runs on.
const clockTick = 100

// procCPU is a process's user and system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return statCPU(string(b))
}

// statCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name, in parentheses, may hold spaces and
// parentheses: fields count from after the last closing one.
func statCPU(s string) time.Duration {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * time.Second / clockTick
}
