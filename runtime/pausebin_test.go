package runtime

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPauseBinary: both executables are well-formed ELF files whose entry
// is their code; the one for this machine runs, ignores SIGCHLD (so the
// kernel reaps orphans) and sleeps until killed.
func TestPauseBinary(t *testing.T) {
	for goarch, pc := range pauseCode {
		b, err := pauseBinary(goarch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", goarch, err)
		}
		if f.Machine != pc.machine || f.Type != elf.ET_EXEC || len(f.Progs) != 1 {
			t.Fatalf("%s: %+v", goarch, f.FileHeader)
		}
		code := make([]byte, len(pc.code))
		if _, err := f.Progs[0].ReadAt(code, int64(f.Entry-f.Progs[0].Vaddr)); err != nil || !bytes.Equal(code, pc.code) {
			t.Errorf("%s: the entry point is not the code (%v)", goarch, err)
		}
	}
	if _, err := pauseBinary("mips"); err == nil || !strings.Contains(err.Error(), "not supported on mips") {
		t.Errorf("mips: %v", err)
	}

	b, err := pauseBinary(goruntime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var status string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		status = string(s)
		if ignoresSIGCHLD(status) && strings.Contains(status, "State:\tS") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !ignoresSIGCHLD(status) || !strings.Contains(status, "State:\tS") {
		t.Fatalf("pause is not sleeping with SIGCHLD ignored:\n%s", status)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("pause ended with %v, want killed", err)
	}
}

// ignoresSIGCHLD reads /proc/PID/status: SIGCHLD is signal 17, bit 16 of
// the ignored set. Other bits may be set too: an ignored signal stays
// ignored across exec, so the set also holds what the test's parent
// ignored (CI's shell ignores signal 32, for one).
func ignoresSIGCHLD(status string) bool {
	for _, l := range strings.Split(status, "\n") {
		if hex, ok := strings.CutPrefix(l, "SigIgn:\t"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && mask&(1<<16) != 0
		}
	}
	return false
}
