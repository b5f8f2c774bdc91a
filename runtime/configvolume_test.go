package runtime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/internal/atomicdir"
	"shoal/runtime/rtapi"
)

func TestConfigSubPath(t *testing.T) {
	dir := t.TempDir()
	if _, err := atomicdir.Write(dir, []atomicdir.File{
		{Path: "app.conf", Data: []byte("x"), Mode: 0o644}, {Path: "conf/db", Data: []byte("y"), Mode: 0o644},
	}, -1); err != nil {
		t.Fatal(err)
	}
	version, err := os.Readlink(filepath.Join(dir, atomicdir.DataLink))
	if err != nil {
		t.Fatal(err)
	}
	for sub, want := range map[string]string{
		"app.conf": version + "/app.conf",
		"conf/db":  version + "/conf/db",
		"conf":     version + "/conf",
	} {
		if got, err := configSubPath(dir, sub); err != nil || got != want {
			t.Errorf("subPath %s: %q %v, want %q", sub, got, err, want)
		}
	}
	var ce *rtapi.ConfigError
	if _, err := configSubPath(dir, "missing"); !errors.As(err, &ce) {
		t.Errorf("missing key: %v, want a ConfigError", err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"escape", "escape/passwd", "../x", "/etc"} {
		if got, err := configSubPath(dir, sub); err == nil {
			t.Errorf("subPath %s resolved to %q", sub, got)
		}
	}
}

// TestWriteVolume: files land in the pod's volume with kubelet's layout,
// modes and, with an fsGroup, the group and group read; a Secret volume
// is a tmpfs.
func TestWriteVolume(t *testing.T) {
	requireRoot(t, "mount a tmpfs and chown")
	r := &Runtime{cfg: Config{DataDir: t.TempDir()}, logger: slog.New(slog.DiscardHandler)}
	gid := int64(4321)
	pod := &cluster.Pod{Namespace: "default", Name: "p", UID: "uid-1", Spec: cluster.PodSpec{
		SecurityContext: &cluster.PodSecurityContext{FSGroup: &gid},
		Volumes: []cluster.Volume{
			{Name: "cfg", ConfigMap: &cluster.ConfigMapVolumeSource{ConfigMapProjection: cluster.ConfigMapProjection{Name: "c"}}},
			{Name: "creds", Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "s"}}},
			{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{}},
		},
	}}
	ctx := context.Background()
	if err := r.WriteVolume(ctx, pod, "cfg", nil); err == nil || !strings.Contains(err.Error(), "pod directory") {
		t.Errorf("write before the sandbox: %v", err)
	}
	if err := r.prepareVolumes(pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removePodDir(r.podDir(pod.UID)); err != nil {
			t.Error(err)
		}
	})
	if err := r.WriteVolume(ctx, pod, "scratch", nil); err == nil {
		t.Error("wrote into an emptyDir")
	}
	files := []rtapi.VolumeFile{{Path: "pw", Data: []byte("s3cret"), Mode: 0o400}, {Path: "a/b", Data: []byte("b"), Mode: 0o644}}
	for _, v := range []string{"cfg", "creds"} {
		if err := r.WriteVolume(ctx, pod, v, files); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		path  string
		mode  os.FileMode
		tmpfs bool
	}{
		{"cfg/pw", 0o440, false}, {"cfg/a/b", 0o644, false},
		{"creds/pw", 0o440, true}, {"creds/a/b", 0o644, true},
	} {
		p := filepath.Join(r.podDir(pod.UID), "volumes", tt.path)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		var fs unix.Statfs_t
		if err := unix.Statfs(p, &fs); err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.mode || fi.Sys().(*syscall.Stat_t).Gid != uint32(gid) || (fs.Type == unix.TMPFS_MAGIC) != tt.tmpfs {
			t.Errorf("%s: mode %v, gid %d, tmpfs %v; want %v, %d, %v", tt.path, fi.Mode().Perm(),
				fi.Sys().(*syscall.Stat_t).Gid, fs.Type == unix.TMPFS_MAGIC, tt.mode, gid, tt.tmpfs)
		}
	}
}
