package diskfull

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestIs(t *testing.T) {
	pathErr := &os.PathError{Op: "write", Path: "/d/raft/raft.db", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bare ENOSPC", syscall.ENOSPC, true},
		{"EDQUOT", syscall.EDQUOT, true},
		{"path error", pathErr, true},
		{"wrapped twice", fmt.Errorf("apply: %w", fmt.Errorf("commit: %w", pathErr)), true},
		{"joined", errors.Join(errors.New("x"), pathErr), true},
		{"guard refusal", &Error{Dir: "/d", Free: 1, Reserve: 2}, true},
		{"EIO", &os.PathError{Op: "write", Path: "/d", Err: syscall.EIO}, false},
		{"text only", errors.New("no space left on device"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Is(tc.err); got != tc.want {
				t.Errorf("Is(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	enospc := fmt.Errorf("store raft logs: %w", &os.PathError{Op: "write", Path: "/d/raft/raft.db", Err: syscall.ENOSPC})
	other := errors.New("closed")
	for _, tc := range []struct {
		name    string
		err     error
		wantMsg string // substring; "" means err comes back unchanged
	}{
		{"nil", nil, ""},
		{"other", other, ""},
		{"full", enospc, "the data dir /d is full (no space left on device): free space and retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Wrap("/d", tc.err)
			if tc.wantMsg == "" {
				if got != tc.err {
					t.Errorf("Wrap(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !strings.Contains(got.Error(), tc.wantMsg) || !errors.Is(got, ErrFull) || !errors.Is(got, syscall.ENOSPC) {
				t.Errorf("Wrap(%v) = %q; want %q, wrapping ErrFull and ENOSPC", tc.err, got, tc.wantMsg)
			}
			if again := Wrap("/other", fmt.Errorf("apply: %w", got)); strings.Count(again.Error(), "data dir") != 1 {
				t.Errorf("wrapped twice: %q", again)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 64 << 20: "64.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNewGuard(t *testing.T) {
	for _, tc := range []struct {
		reserve, ballast         uint64
		wantReserve, wantBallast uint64
		wantErr                  bool
	}{
		{0, 0, DefaultReserve, DefaultBallast, false},
		{4 << 20, 0, 4 << 20, 2 << 20, false},
		{4 << 20, 1 << 20, 4 << 20, 1 << 20, false},
		{4 << 20, 4 << 20, 0, 0, true},
	} {
		g, err := NewGuard("/d", tc.reserve, tc.ballast)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "must exceed the ballast") {
				t.Errorf("NewGuard(%d, %d): %v, want an error", tc.reserve, tc.ballast, err)
			}
			continue
		}
		if err != nil || g.reserve != tc.wantReserve || g.ballast != tc.wantBallast {
			t.Errorf("NewGuard(%d, %d) = %+v, %v", tc.reserve, tc.ballast, g, err)
		}
	}
}

// TestGuard: the guard refuses below the reserve, keeps a ballast only
// when there is room for it besides the reserve, and Release frees it.
func TestGuard(t *testing.T) {
	dir := t.TempDir()
	g, err := NewGuard(dir, 4<<10, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	var free uint64
	g.statfs = func(string) (Usage, error) { return Usage{Free: free, Total: 1 << 30}, nil }
	ballast := filepath.Join(dir, BallastFile)
	hasBallast := func() bool { _, err := os.Stat(ballast); return err == nil }

	for _, step := range []struct {
		name        string
		free        uint64
		wantFull    bool
		wantBallast bool
	}{
		{"room for reserve and ballast", 8 << 10, false, true},
		{"below the reserve", 4<<10 - 1, true, true},
		{"back above the reserve", 4 << 10, false, true},
	} {
		free = step.free
		err := g.Refresh()
		full, u := g.Full()
		if (err != nil) != step.wantFull || full != step.wantFull || u.Free != step.free {
			t.Errorf("%s: Refresh %v, Full %v %+v", step.name, err, full, u)
		}
		if step.wantFull && (!errors.Is(err, ErrFull) || !strings.Contains(err.Error(), dir+" is full (4.0 KiB free")) {
			// 4<<10-1 bytes print as 4.0 KiB: the figure is for people.
			t.Errorf("%s: error %v", step.name, err)
		}
		if hasBallast() != step.wantBallast {
			t.Errorf("%s: ballast present %v, want %v", step.name, hasBallast(), step.wantBallast)
		}
	}
	if fi, err := os.Stat(ballast); err != nil || fi.Size() != 1<<10 {
		t.Fatalf("ballast %v %v, want %d bytes", fi, err, 1<<10)
	}
	if !g.Release() || hasBallast() || g.Release() {
		t.Error("Release: want the ballast removed once")
	}
	// With room for the reserve but not the ballast besides, none is made.
	free = 4<<10 + 1
	if err := g.Refresh(); err != nil || hasBallast() {
		t.Errorf("Refresh without room for the ballast: %v, ballast %v", err, hasBallast())
	}
	// A filesystem that cannot be read does not block writes.
	g.statfs = func(string) (Usage, error) { return Usage{}, syscall.EIO }
	if err := g.Check(); err != nil {
		t.Errorf("Check with statfs failing: %v", err)
	}
}

func TestStatfs(t *testing.T) {
	u, err := Statfs(t.TempDir())
	if err != nil || u.Total == 0 || u.Free > u.Total {
		t.Errorf("Statfs = %+v, %v", u, err)
	}
	if _, err := Statfs(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Statfs of a missing dir succeeded")
	}
}
