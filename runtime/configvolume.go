package runtime

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/internal/atomicdir"
	"shoal/runtime/rtapi"
)

// Config volumes (configMap, secret, downwardAPI, projected) are
// directories under the pod's volumes/, like emptyDirs, whose files the
// node reconciler resolves from the cluster state and hands to
// WriteVolume. They are laid out as kubelet lays them out (package
// atomicdir: timestamped versions behind a ..data link swapped in one
// rename), so that a running pod sees a change whole. Those that may hold
// Secret data are a tmpfs, as in Kubernetes: Secrets never reach the
// node's disk. Containers mount them read-only.

// configVolumeDir is a config volume's directory.
func (r *Runtime) configVolumeDir(uid, volume string) string {
	return filepath.Join(r.podDir(uid), "volumes", volume)
}

// prepareConfigVolume makes a config volume's directory, mounting a
// tmpfs on it when it may hold Secret data.
func (r *Runtime) prepareConfigVolume(pod *cluster.Pod, v cluster.Volume) error {
	dir := r.configVolumeDir(pod.UID, v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if v.Sensitive() && !isMountPoint(dir) {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs for volume %s: %w", v.Name, err)
		}
	}
	return nil
}

// WriteVolume makes config volume of pod show files, replacing what it
// showed in one step; it writes nothing when they are what it shows
// already. With a pod fsGroup the files get that group and group read
// permission, as kubelet gives them.
func (r *Runtime) WriteVolume(ctx context.Context, pod *cluster.Pod, volume string, files []rtapi.VolumeFile) error {
	if err := r.writeVolume(pod, volume, files); err != nil {
		return fmt.Errorf("write volume %s of pod %s: %w", volume, pod.Key(), err)
	}
	return nil
}

func (r *Runtime) writeVolume(pod *cluster.Pod, volume string, files []rtapi.VolumeFile) error {
	if err := validName(pod.UID); err != nil {
		return err
	}
	var v *cluster.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == volume {
			v = &pod.Spec.Volumes[i]
		}
	}
	if v == nil || !v.Config() {
		return fmt.Errorf("%w: not a configMap, secret, downwardAPI or projected volume of the pod", ErrInvalid)
	}
	if _, err := os.Stat(r.podDir(pod.UID)); err != nil {
		return fmt.Errorf("pod directory: %w", err)
	}
	// Again here: after a host reboot an adopted pod's tmpfs is gone.
	if err := r.prepareConfigVolume(pod, *v); err != nil {
		return err
	}
	gid := -1
	var groupRead fs.FileMode
	if psc := pod.Spec.SecurityContext; psc != nil && psc.FSGroup != nil {
		if *psc.FSGroup < 0 || *psc.FSGroup > maxID {
			return fmt.Errorf("%w: fsGroup %d out of range", ErrInvalid, *psc.FSGroup)
		}
		gid, groupRead = int(*psc.FSGroup), 0o440
	}
	payload := make([]atomicdir.File, len(files))
	for i, f := range files {
		payload[i] = atomicdir.File{Path: f.Path, Data: f.Data, Mode: f.Mode.Perm() | groupRead}
	}
	changed, err := atomicdir.Write(r.configVolumeDir(pod.UID, volume), payload, gid)
	if err != nil {
		return err
	}
	if changed {
		r.logger.Debug("volume updated", "pod", pod.Key(), "volume", volume, "files", len(files))
		r.restoreSubPaths(pod, func(name string) bool { return name == volume })
	}
	return nil
}

// configSubPath resolves a subPath of a config volume to where it is in
// the current version: its names are links through ..data (atomicdir),
// which the subPath walk refuses. Following them is safe here: only the
// agent writes the volume, and containers see it read-only. As in
// Kubernetes the mount then keeps that version: it does not follow
// updates.
func configSubPath(dir, sub string) (string, error) {
	if _, err := subPathParts(sub); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, sub))
	if err != nil {
		return "", &rtapi.ConfigError{Message: fmt.Sprintf("subPath %q: no such file in the volume", sub)}
	}
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(base, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%w: subPath %q leads out of the volume", ErrInvalid, sub)
	}
	return rel, nil
}
