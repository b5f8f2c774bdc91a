package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/internal/testimage"
	"shoal/runtime"
	"shoal/runtime/rtapi"
)

// mountsBelow lists the mount points below dir in /proc/self/mountinfo.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// umask is the process's umask, read without changing it.
func umask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return os.FileMode(m)
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// sameInode reports whether fd and path name the same inode (path not
// followed if a symlink).
func sameInode(t *testing.T, fd int, path string) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(path, &b); err != nil {
		t.Fatal(err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// The resolver opens what a subPath names inside the volume, creating
// missing directories there, and refuses symlinks anywhere in it and any
// way out of the volume.
func TestOpenSubPath(t *testing.T) {
	base := t.TempDir()
	vol, outside := filepath.Join(base, "vol"), filepath.Join(base, "outside")
	mkdirs(t, filepath.Join(vol, "plain"), filepath.Join(vol, "a", "b"), outside)
	writeFile(t, filepath.Join(vol, "file"), "data")
	writeFile(t, filepath.Join(outside, "secret"), "host")
	symlink(t, outside, filepath.Join(vol, "link"))         // out of the volume
	symlink(t, "a", filepath.Join(vol, "dirlink"))          // inside it: refused all the same
	symlink(t, "../file", filepath.Join(vol, "a", "flink")) // a symlink as last component
	mode := runtime.SubPathDirMode &^ umask(t)

	for _, tc := range []struct {
		sub     string
		want    string // what the descriptor names, relative to vol; "" for an error
		created []string
		refused string // in the error
	}{
		{sub: "plain", want: "plain"},
		{sub: "a/b", want: "a/b"},
		{sub: "./a//b/", want: "a/b"},
		{sub: ".", want: "."},
		{sub: "file", want: "file"},
		{sub: "new/x/y", want: "new/x/y", created: []string{"new", "new/x", "new/x/y"}},
		{sub: "a/b/c", want: "a/b/c", created: []string{"a/b/c"}},
		{sub: "link", refused: `"link" is a symbolic link`},
		{sub: "link/new", refused: `"link" is a symbolic link`},
		{sub: "dirlink/b", refused: `"dirlink" is a symbolic link`},
		{sub: "a/flink", refused: `"a/flink" is a symbolic link`},
		{sub: "file/x", refused: `"file" is not a directory`},
		{sub: "..", refused: "escapes the volume"},
		{sub: "../outside", refused: "escapes the volume"},
		{sub: "a/../../outside", refused: "escapes the volume"},
		{sub: "a/../b", refused: "escapes the volume"},
		{sub: "/etc", refused: "not a relative path"},
	} {
		t.Run(tc.sub, func(t *testing.T) {
			fd, err := runtime.OpenSubPath(vol, tc.sub)
			if tc.want == "" {
				if err == nil {
					unix.Close(fd)
					t.Fatalf("resolved, want refused (%s)", tc.refused)
				}
				if !errors.Is(err, runtime.ErrInvalid) || !strings.Contains(err.Error(), tc.refused) ||
					!strings.Contains(err.Error(), strconv.Quote(tc.sub)) {
					t.Fatalf("error %q, want ErrInvalid naming the subPath and %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if !sameInode(t, fd, filepath.Join(vol, tc.want)) {
				t.Errorf("descriptor is not %s", tc.want)
			}
			for _, c := range tc.created {
				fi, err := os.Lstat(filepath.Join(vol, c))
				if err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
					t.Errorf("created %s: %v %v, want a directory with mode %v", c, fi.Mode(), err, mode)
				}
			}
		})
	}
	// Nothing was made through the symlink out of the volume.
	if _, err := os.Lstat(filepath.Join(outside, "new")); !os.IsNotExist(err) {
		t.Errorf("a directory was made outside the volume: %v", err)
	}
}

// A symlink swapped in after the resolution does not matter: the bind
// mount pins the inode the resolver opened, and undoing it leaves the
// volume's data alone.
func TestPinSubPathHoldsInode(t *testing.T) {
	testenv.RequireRoot(t)
	base := t.TempDir()
	vol, outside, pins := filepath.Join(base, "vol"), filepath.Join(base, "outside"), filepath.Join(base, "pins", "c")
	t.Cleanup(func() { testenv.UnmountUnder(t, base) })
	mkdirs(t, filepath.Join(vol, "a", "b"), outside)
	writeFile(t, filepath.Join(vol, "a", "b", "marker"), "original")
	writeFile(t, filepath.Join(vol, "file"), "file-data")
	writeFile(t, filepath.Join(outside, "secret"), "host")

	fd, err := runtime.OpenSubPath(vol, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	// The swap, between resolution and mount.
	if err := os.Rename(filepath.Join(vol, "a"), filepath.Join(vol, "a-orig")); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(vol, "a"))
	mkdirs(t, filepath.Join(outside, "b"))
	dirTarget := filepath.Join(pins, "0")
	err = runtime.PinSubPath(fd, dirTarget)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	var orig, got unix.Stat_t
	if err := unix.Stat(filepath.Join(vol, "a-orig", "b"), &orig); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(dirTarget, &got); err != nil {
		t.Fatal(err)
	}
	if got.Dev != orig.Dev || got.Ino != orig.Ino {
		t.Errorf("mount point shows inode %d, want the resolved %d", got.Ino, orig.Ino)
	}
	if b, err := os.ReadFile(filepath.Join(dirTarget, "marker")); err != nil || string(b) != "original" {
		t.Errorf("marker through the bind: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dirTarget, "secret")); !os.IsNotExist(err) {
		t.Errorf("the swapped-in target shows through the bind: %v", err)
	}

	// A file as last component: the mount point is a file.
	fd, err = runtime.OpenSubPath(vol, "file")
	if err != nil {
		t.Fatal(err)
	}
	fileTarget := filepath.Join(pins, "1")
	err = runtime.PinSubPath(fd, fileTarget)
	if err == nil {
		// A mount point already mounted is never mounted over.
		if err := runtime.PinSubPath(fd, fileTarget); err == nil || !strings.Contains(err.Error(), "mounted already") {
			t.Errorf("second bind onto %s: %v, want refused", fileTarget, err)
		}
	}
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fileTarget); err != nil || string(b) != "file-data" {
		t.Errorf("file through the bind: %q %v", b, err)
	}
	if n := len(mountsBelow(t, pins)); n != 2 {
		t.Errorf("%d mounts below %s, want 2", n, pins)
	}

	if err := runtime.UnpinSubPaths(pins); err != nil {
		t.Fatal(err)
	}
	if m := mountsBelow(t, base); len(m) != 0 {
		t.Errorf("still mounted: %v", m)
	}
	if _, err := os.Lstat(pins); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", pins, err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "a-orig", "b", "marker")); err != nil || string(b) != "original" {
		t.Errorf("volume data after unpin: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "file")); err != nil || string(b) != "file-data" {
		t.Errorf("volume file after unpin: %q %v", b, err)
	}
	// Leftovers already unmounted (a host reboot) go without error.
	mkdirs(t, filepath.Join(pins, "0"))
	writeFile(t, filepath.Join(pins, "1"), "")
	if err := runtime.UnpinSubPaths(pins); err != nil {
		t.Errorf("unmounted leftovers: %v", err)
	}
}

// logsOf returns a container's log so far.
func (e *env) logsOf(uid, container string) string {
	var b bytes.Buffer
	_ = e.rt.Logs(context.Background(), uid, container, false, &b)
	return b.String()
}

// CVE-2017-1002101: a container plants symlinks in an emptyDir; a later
// container asking for them as subPath is refused before anything is
// mounted, and nothing is created through them on the host.
func TestSubPathSymlinkEscapeRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	maker := sh("maker", "ln -s / /vol/escape && ln -s /etc /vol/etc2 && mkdir /vol/ok && echo inside > /vol/ok/f && echo made; exec sleep 3600")
	maker.VolumeMounts = []cluster.VolumeMount{{Name: "shared", MountPath: "/vol"}}
	pod := newPod("escape", maker)
	pod.Spec.Volumes = []cluster.Volume{{Name: "shared", EmptyDir: &cluster.EmptyDirSource{}}}
	sb := e.start(t, pod)
	poll.Until(t, 10*time.Second, "the symlinks", func() (bool, string) {
		s := e.logsOf(pod.UID, "maker")
		return strings.Contains(s, "made"), s
	})

	hostName, _ := os.ReadFile("/etc/hostname")
	planted := fmt.Sprintf("shoal-subpath-%d", time.Now().UnixNano())
	for i, sub := range []string{"escape", "etc2", "etc2/hostname", "ok/../escape", "etc2/" + planted} {
		name := fmt.Sprintf("victim-%d", i)
		c := sh(name, "cat /x/etc/hostname /x/hostname /x; exec sleep 3600")
		c.Image = testimage.Ref
		c.VolumeMounts = []cluster.VolumeMount{{Name: "shared", MountPath: "/x", SubPath: sub}}
		err := e.rt.StartContainer(ctx, pod, sb, c, 1)
		if err == nil || !errors.Is(err, runtime.ErrInvalid) || !strings.Contains(err.Error(), "subPath "+strconv.Quote(sub)) {
			t.Errorf("subPath %q: %v, want ErrInvalid naming the subPath", sub, err)
		}
		t.Logf("subPath %q: %v", sub, err)
		if _, cs, ok := e.container(t, pod.UID, name); ok {
			t.Errorf("subPath %q: container created: %+v", sub, cs)
		}
		if s := e.logsOf(pod.UID, name); len(bytes.TrimSpace(hostName)) > 0 && strings.Contains(s, strings.TrimSpace(string(hostName))) {
			t.Errorf("subPath %q: the host's /etc/hostname is visible: %q", sub, s)
		}
	}
	if _, err := os.Lstat(filepath.Join("/etc", planted)); !os.IsNotExist(err) {
		os.Remove(filepath.Join("/etc", planted))
		t.Errorf("a directory was made in the host's /etc through the symlink: %v", err)
	}
	if m := mountsBelow(t, filepath.Join(sb.Dir, "volume-subpaths")); len(m) != 0 {
		t.Errorf("mounts left by the refused containers: %v", m)
	}

	// A plain directory of the same volume works, and the symlinks are
	// still symlinks for the container that planted them.
	reader := sh("reader", "cat /x/f; exec sleep 3600")
	reader.Image = testimage.Ref
	reader.VolumeMounts = []cluster.VolumeMount{{Name: "shared", MountPath: "/x", SubPath: "ok"}}
	if err := e.rt.StartContainer(ctx, pod, sb, reader, 1); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the reader's output", func() (bool, string) {
		s := e.logsOf(pod.UID, "reader")
		return s == "inside\n", s
	})
	if _, out, _ := e.exec(t, pod.UID, "maker", "readlink", "/vol/escape"); strings.TrimSpace(out) != "/" {
		t.Errorf("readlink /vol/escape: %q", out)
	}
}

// Missing directories of a subPath are made inside the volume; a replaced
// container's bind is undone before the new one is made (one mount, not
// two), and after a host reboot (binds gone, containers kept) the sandbox
// binds the subPath again for the container's next task.
func TestSubPathCreatedReplacedRestored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sh("w", "echo one > /deep/f; exec sleep 3600")
	c.VolumeMounts = []cluster.VolumeMount{{Name: "data", MountPath: "/deep", SubPath: "x/y/z"}}
	pod := newPod("deep", c)
	pod.Spec.Volumes = []cluster.Volume{{Name: "data", EmptyDir: &cluster.EmptyDirSource{}}}
	sb := e.start(t, pod)
	vol := filepath.Join(sb.Dir, "volumes", "data")
	waitFile := func(path, want string) {
		t.Helper()
		poll.Until(t, 10*time.Second, path, func() (bool, string) {
			b, err := os.ReadFile(path)
			return err == nil && string(b) == want, fmt.Sprintf("%q %v", b, err)
		})
	}
	waitFile(filepath.Join(vol, "x", "y", "z", "f"), "one\n")
	for _, d := range []string{"x", "x/y", "x/y/z"} {
		if fi, err := os.Lstat(filepath.Join(vol, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v %v, want a directory in the volume", d, fi, err)
		}
	}
	pins := filepath.Join(sb.Dir, "volume-subpaths", "w")
	want := []string{filepath.Join(pins, "0")}
	if m := mountsBelow(t, pins); !slicesEqual(m, want) {
		t.Errorf("mounts %v, want %v", m, want)
	}

	// A new generation replaces the container.
	c2 := sh("w", "echo two > /deep/g; exec sleep 3600")
	c2.Image, c2.VolumeMounts = testimage.Ref, c.VolumeMounts
	pod.Spec.Containers = []cluster.Container{c2}
	if err := e.rt.StartContainer(ctx, pod, sb, c2, 1); err != nil {
		t.Fatal(err)
	}
	waitFile(filepath.Join(vol, "x", "y", "z", "g"), "two\n")
	if m := mountsBelow(t, pins); !slicesEqual(m, want) {
		t.Errorf("after replacement: mounts %v, want %v", m, want)
	}

	// A reboot: the task and the bind go, the container stays.
	if err := e.rt.StopContainer(ctx, pod.UID, "w", 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(want[0], unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(vol, "x", "y", "z", "g")); err != nil {
		t.Fatal(err)
	}
	rt2 := e2eNew(t, e.cfg)
	sb2, err := rt2.EnsureSandbox(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if m := mountsBelow(t, pins); !slicesEqual(m, want) {
		t.Errorf("after EnsureSandbox: mounts %v, want %v", m, want)
	}
	if err := rt2.StartContainer(ctx, pod, sb2, c2, 2); err != nil {
		t.Fatal(err)
	}
	e.waitContainer(t, pod.UID, "w", 10*time.Second, func(c rtapi.ContainerState) bool { return c.Attempt == 2 })
	waitFile(filepath.Join(vol, "x", "y", "z", "g"), "two\n")
	if m := mountsBelow(t, pins); !slicesEqual(m, want) {
		t.Errorf("after restart: mounts %v, want %v", m, want)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// RemovePod unmounts every subPath bind before it removes the pod
// directory: a claim mounted by subPath keeps its data, and nothing stays
// mounted under the pod directory.
func TestSubPathRemovePodKeepsClaim(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sh("db", "echo persisted > /data/file; echo s > /s/f; echo done; exec sleep 3600")
	c.VolumeMounts = []cluster.VolumeMount{
		{Name: "data", MountPath: "/data", SubPath: "sub/dir"},
		{Name: "scratch", MountPath: "/s", SubPath: "tmp"},
	}
	pod := newPod("db-0", c)
	pod.Spec.Volumes = []cluster.Volume{
		{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data"}},
		{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{Medium: "Memory", SizeLimit: 1 << 20}},
	}
	sb := e.start(t, pod)
	poll.Until(t, 10*time.Second, "the writes", func() (bool, string) {
		s := e.logsOf(pod.UID, "db")
		return strings.Contains(s, "done"), s
	})
	claimFile := filepath.Join(e.rt.ClaimDir("default", &cluster.ClaimSource{ClaimName: "data"}, "db-0"), "sub", "dir", "file")
	if b, err := os.ReadFile(claimFile); err != nil || string(b) != "persisted\n" {
		t.Fatalf("claim file: %q %v", b, err)
	}
	if m := mountsBelow(t, filepath.Join(sb.Dir, "volume-subpaths")); len(m) != 2 {
		t.Errorf("subPath mounts %v, want 2", m)
	}

	if err := e.rt.RemovePod(ctx, pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if m := mountsBelow(t, sb.Dir); len(m) != 0 {
		t.Errorf("still mounted under the pod directory: %v", m)
	}
	if _, err := os.Stat(sb.Dir); !os.IsNotExist(err) {
		t.Errorf("pod dir %s still there: %v", sb.Dir, err)
	}
	if b, err := os.ReadFile(claimFile); err != nil || string(b) != "persisted\n" {
		t.Errorf("claim data after RemovePod: %q %v", b, err)
	}
}
