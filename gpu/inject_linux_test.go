package gpu

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// mknod makes a char device in a test /dev, skipping the test where that is
// not allowed (not root, user namespaces, nodev mounts still allow mknod).
func mknod(t *testing.T, path string, major, minor uint32) {
	t.Helper()
	if err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(major, minor))); err != nil {
		if (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)) && os.Getenv("CI") != "true" {
			t.Skipf("cannot mknod here (not root?): %v", err)
		}
		t.Fatal(err)
	}
	// mknod applies the umask; the nodes NVIDIA's driver makes are 0666.
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
}

// Real device nodes under DevRoot, read with the real stat.
func TestApplyRealDeviceNodes(t *testing.T) {
	root := t.TempDir()
	mknod(t, filepath.Join(root, "nvidia0"), 195, 0)
	mknod(t, filepath.Join(root, "nvidia1"), 195, 1)
	mknod(t, filepath.Join(root, "nvidiactl"), 195, 255)
	mknod(t, filepath.Join(root, "uvm-real"), 510, 0)
	// Some distributions link device nodes; stat follows the link.
	if err := os.Symlink("uvm-real", filepath.Join(root, "nvidia-uvm")); err != nil {
		t.Fatal(err)
	}

	spec := imageSpec()
	err := Apply(spec, []string{"GPU-1"}, InjectConfig{GPUs: nodeGPUs, CDIDirs: []string{}, DevRoot: root})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, want := devicePaths(spec), []string{"/dev/nvidia-uvm", "/dev/nvidia1", "/dev/nvidiactl"}; !slices.Equal(got, want) {
		t.Errorf("devices = %v, want %v", got, want)
	}
	if got, want := cgroupRules(spec), []string{"c 195:1 rwm", "c 195:255 rwm", "c 510:0 rwm"}; !slices.Equal(got, want) {
		t.Errorf("cgroup rules = %v, want %v", got, want)
	}
	for _, d := range spec.Linux.Devices {
		if d.FileMode == nil || *d.FileMode != 0o666 {
			t.Errorf("%s mode = %v, want 0666", d.Path, d.FileMode)
		}
	}
}

func TestStatDevice(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := statDevice(regular); err == nil {
		t.Error("statDevice(regular file) succeeded")
	}
	if _, err := statDevice(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("statDevice(missing) = %v, want ErrNotExist", err)
	}
	dn, err := statDevice("/dev/null")
	if err != nil {
		t.Fatalf("stat /dev/null: %v", err)
	}
	if dn != (devNode{typ: "c", major: 1, minor: 3, mode: dn.mode}) {
		t.Errorf("statDevice(/dev/null) = %+v, want c 1:3", dn)
	}
}
