package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/errdefs"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// PodStorage measures the local ephemeral storage pod uses, as the kubelet
// counts it: each container's writable layer (the snapshotter's usage of
// its active snapshot), each container's log, and each emptyDir on disk
// (a Memory one is a tmpfs, counted against memory). A container not
// created yet uses nothing.
func (r *Runtime) PodStorage(ctx context.Context, pod *cluster.Pod) (rtapi.PodStorage, error) {
	if err := validName(pod.UID); err != nil {
		return rtapi.PodStorage{}, fmt.Errorf("storage of pod %s: %w", pod.Key(), err)
	}
	ctx = r.ctx(ctx)
	out := rtapi.PodStorage{Containers: map[string]rtapi.ContainerStorage{}, EmptyDirs: map[string]int64{}}
	ctrs := append(append([]cluster.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range ctrs {
		rootfs, err := r.writableLayer(ctx, ContainerID(pod.UID, c.Name))
		if err != nil {
			return out, fmt.Errorf("storage of container %s of pod %s: %w", c.Name, pod.Key(), err)
		}
		logs, err := diskUsage(r.logPath(pod.UID, c.Name))
		if err != nil {
			return out, fmt.Errorf("storage of the log of container %s of pod %s: %w", c.Name, pod.Key(), err)
		}
		out.Containers[c.Name] = rtapi.ContainerStorage{RootFS: rootfs, Logs: logs}
	}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.Medium == "Memory" {
			continue
		}
		if err := validName(v.Name); err != nil {
			return out, fmt.Errorf("storage of pod %s: %w", pod.Key(), err)
		}
		n, err := diskUsage(filepath.Join(r.podDir(pod.UID), "volumes", v.Name))
		if err != nil {
			return out, fmt.Errorf("storage of emptyDir %s of pod %s: %w", v.Name, pod.Key(), err)
		}
		out.EmptyDirs[v.Name] = n
	}
	return out, nil
}

// writableLayer is the size of container id's active snapshot, 0 when the
// container does not exist.
func (r *Runtime) writableLayer(ctx context.Context, id string) (int64, error) {
	ctr, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := ctr.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.SnapshotKey == "" {
		return 0, nil
	}
	u, err := r.client.SnapshotService(info.Snapshotter).Usage(ctx, info.SnapshotKey)
	if errdefs.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage of snapshot %s (%s): %w", info.SnapshotKey, info.Snapshotter, err)
	}
	return u.Size, nil
}

// diskUsage is what path takes on disk, like du: allocated blocks of
// everything under it, a hard-linked file once, not crossing into other
// filesystems; 0 when path does not exist. Files that vanish while it
// walks are skipped.
func diskUsage(path string) (int64, error) {
	root, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	dev := root.Sys().(*syscall.Stat_t).Dev
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Dev != dev {
			// A mount point: another filesystem's business.
			if fi.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !fi.IsDir() {
			k := inode{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}
