// Package testimage builds a busybox OCI image archive from the host's
// static busybox (Debian's busybox-static), so tests that run real
// containers need neither network nor registry.
package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ref is the name the archive gives its image ("io.containerd.image.name"),
// so an import makes it available under this reference.
const Ref = "shoal.local/busybox:test"

// BusyboxPath is where Debian's busybox-static installs a static busybox.
const BusyboxPath = "/bin/busybox"

// Paths inside the layer and their modes; busybox applets are added as
// symlinks next to /bin/busybox.
var dirs = []struct {
	name string
	mode int64
}{
	{"bin", 0o755}, {"dev", 0o755}, {"etc", 0o755}, {"home", 0o755}, {"proc", 0o755},
	{"root", 0o700}, {"sys", 0o755}, {"tmp", 0o1777}, {"usr", 0o755}, {"usr/bin", 0o755},
	{"var", 0o755}, {"var/www", 0o755},
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
	group  = "root:x:0:\nnobody:x:65534:\n"
	path   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

var (
	once      sync.Once
	cached    string
	cachedErr error
)

// Busybox returns the path of the busybox image archive, building it once
// per test binary (and reusing one built by another binary, as the archive
// is named by the busybox binary's digest). It skips the test where
// busybox is missing, unless CI=true.
func Busybox(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("testimage: %s missing (apt install busybox-static)", BusyboxPath)
		}
		tb.Skipf("testimage: %s missing (apt install busybox-static)", BusyboxPath)
	}
	once.Do(func() { cached, cachedErr = Build(os.TempDir()) })
	if cachedErr != nil {
		tb.Fatalf("testimage: %v", cachedErr)
	}
	return cached
}

// Build writes the busybox OCI archive into dir (unless an identical one is
// there) and returns its path.
func Build(dir string) (string, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	sum := sha256.Sum256(bb)
	out := filepath.Join(dir, fmt.Sprintf("shoal-busybox-%s.tar", hex.EncodeToString(sum[:6])))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	applets, err := listApplets()
	if err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	archive, err := build(bb, applets)
	if err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	// Write then rename: parallel test binaries may build it at once.
	tmp, err := os.CreateTemp(dir, "shoal-busybox-*.tmp")
	if err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	if _, err := tmp.Write(archive); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", fmt.Errorf("build busybox image: %w", err)
	}
	return out, nil
}

func listApplets() ([]string, error) {
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	return applets, nil
}

// build returns the OCI image layout, as a tar, of a one-layer image.
func build(busybox []byte, applets []string) ([]byte, error) {
	layer, err := layerTar(busybox, applets)
	if err != nil {
		return nil, err
	}
	layerDesc := descriptor("application/vnd.oci.image.layer.v1.tar", layer)
	config, err := json.Marshal(map[string]any{
		"architecture": goruntime.GOARCH,
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC(),
		"config": map[string]any{
			"Cmd":        []string{"sh"},
			"Env":        []string{path},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	if err != nil {
		return nil, err
	}
	configDesc := descriptor("application/vnd.oci.image.config.v1+json", config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []any{layerDesc},
	})
	if err != nil {
		return nil, err
	}
	manifestDesc := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc["annotations"] = map[string]string{
		"io.containerd.image.name":          Ref,
		"org.opencontainers.image.ref.name": "test",
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{manifestDesc},
	})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(layer), layer},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, 0o644, f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layerTar is the image's only layer: the directory skeleton, /etc/passwd,
// /bin/busybox and a symlink per applet.
func layerTar(busybox []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name + "/", Mode: d.mode}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, err
	}
	if err := writeFile(tw, "etc/group", 0o644, []byte(group)); err != nil {
		return nil, err
	}
	if err := writeFile(tw, "bin/busybox", 0o755, busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}
