package runtime

// subPath mounts, done as the kubelet does them since CVE-2017-1002101.
//
// A container can put symlinks into a volume it shares with another one
// (ln -s / /vol/escape). Joining the subPath to the volume's directory and
// handing that path to runc would let a later container mounting
// subPath "escape" bind the host's / read-write. So the subPath is walked
// one component at a time below the opened volume root with openat and
// O_NOFOLLOW (a symlink anywhere in it is refused, as the kubelet refuses
// it), missing directories are made with mkdirat in their opened parent,
// and what the walk ends on is pinned: /proc/self/fd/<fd> is bind-mounted
// onto a mount point the agent owns, <pod dir>/volume-subpaths/<container>/<index>,
// which becomes the container mount's source. A symlink swapped in after
// the walk cannot matter: the bind holds the inode the walk opened.
//
// openat2 (RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS) would resolve the whole
// path in one call but cannot create the missing directories, and the
// walk below is needed on kernels without it anyway: the walk is the only
// code path, so the one that runs is the one tested.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"shoal/cluster"
)

// subPathsDir holds, in a pod's directory, the mount points of its
// containers' subPaths.
const subPathsDir = "volume-subpaths"

// subPathDirMode is the mode of the directories a subPath walk creates.
// Not the 0777 the old MkdirAll asked for: that is what an emptyDir's own
// root gets (prepareVolumes), but in a claim or a hostPath a world-writable
// directory made by root would open the volume to every user of every
// container. 0755 is what MkdirAll(0777) gave under the agent's usual
// umask (022) and what the kubelet's mode-of-the-volume gives under its
// own, so images that ran before still read what they read; 0750 would
// lock non-root containers out of directories they could read until now.
const subPathDirMode = 0o755

// subPathTarget is the mount point of the subPath of container's index-th
// volume mount.
func (r *Runtime) subPathTarget(uid, container string, index int) string {
	return filepath.Join(r.podDir(uid), subPathsDir, container, strconv.Itoa(index))
}

// volumeDir is the host directory behind volume v of pod.
func (r *Runtime) volumeDir(pod *cluster.Pod, v cluster.Volume) (string, error) {
	switch {
	case v.EmptyDir != nil:
		return filepath.Join(r.podDir(pod.UID), "volumes", v.Name), nil
	case v.HostPath != nil:
		return v.HostPath.Path, nil
	case v.Claim != nil:
		return r.ClaimDir(pod.Namespace, v.Claim, pod.Name), nil
	case v.Config():
		return r.configVolumeDir(pod.UID, v.Name), nil
	default:
		return "", fmt.Errorf("%w: volume %s has no source", ErrInvalid, v.Name)
	}
}

// subPathParts checks a subPath as Kubernetes' API does (relative, no ".."
// component) and returns its components; none for the volume itself.
func subPathParts(sub string) ([]string, error) {
	if filepath.IsAbs(sub) || strings.Contains(sub, "\x00") {
		return nil, fmt.Errorf("%w: subPath %q is not a relative path", ErrInvalid, sub)
	}
	var parts []string
	for _, p := range strings.Split(sub, "/") {
		switch p {
		case "..":
			return nil, fmt.Errorf("%w: subPath %q escapes the volume (..)", ErrInvalid, sub)
		case "", ".":
		default:
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// openSubPath opens sub below the volume directory root without following
// any symlink below root, creating the directories that are missing, and
// returns an O_PATH descriptor of what sub names (a directory, or for the
// last component anything but a symlink) for the caller to close.
func openSubPath(root, sub string) (int, error) {
	parts, err := subPathParts(sub)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open volume directory %s: %w", root, err)
	}
	for i, name := range parts {
		next, err := openComponent(fd, name, i == len(parts)-1)
		unix.Close(fd)
		at := strings.Join(parts[:i+1], "/")
		if errors.Is(err, errSymlink) || errors.Is(err, errNotDir) {
			return -1, fmt.Errorf("%w: subPath %q: %q %w", ErrInvalid, sub, at, err)
		}
		if err != nil {
			return -1, fmt.Errorf("subPath %q: %q: %w", sub, at, err)
		}
		fd = next
	}
	return fd, nil
}

// Why openComponent refuses a component.
var (
	errSymlink = errors.New("is a symbolic link, refused in a subPath")
	errNotDir  = errors.New("is not a directory")
)

// openComponent opens name in the directory dirfd, not following it if it
// is a symlink, and makes it a directory first if it does not exist. All
// but the last component must be directories.
func openComponent(dirfd int, name string, last bool) (int, error) {
	const flags = unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		// EEXIST: made meanwhile; what it is gets checked below.
		if err := unix.Mkdirat(dirfd, name, subPathDirMode); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("create directory: %w", err)
		}
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		unix.Close(fd)
		return -1, errSymlink
	case unix.S_IFDIR:
	default:
		if !last {
			unix.Close(fd)
			return -1, errNotDir
		}
	}
	return fd, nil
}

// pinSubPath bind-mounts what fd (from openSubPath) refers to onto target,
// made an empty directory or file to match, and checks that target then
// shows that very inode. A target already mounted is an error, never
// mounted over.
func pinSubPath(fd int, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if err := makeMountPoint(target, isDir); err != nil {
		return err
	}
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(target)
		return fmt.Errorf("bind-mount subPath onto %s: %w", target, err)
	}
	var got unix.Stat_t
	err := unix.Lstat(target, &got)
	if err == nil && (got.Dev != st.Dev || got.Ino != st.Ino) {
		err = fmt.Errorf("mount point shows inode %d:%d, not the subPath's %d:%d", got.Dev, got.Ino, st.Dev, st.Ino)
	}
	if err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		_ = os.Remove(target)
		return fmt.Errorf("check subPath bind at %s: %w", target, err)
	}
	return nil
}

// makeMountPoint (re)creates target as an empty directory or an empty
// file. A leftover from before (an agent restart, a host reboot) is
// removed first, without recursion: one still mounted is an error.
func makeMountPoint(target string, isDir bool) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	if isMountPoint(target) {
		return fmt.Errorf("%s is mounted already", target)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale mount point: %w", err)
	}
	if isDir {
		return os.Mkdir(target, 0o750)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	return f.Close()
}

// bindSubPath resolves sub below the volume directory root and pins it at
// target.
func bindSubPath(root, sub, target string) error {
	fd, err := openSubPath(root, sub)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return pinSubPath(fd, target)
}

// volumeSource is the mount source of container's index-th volume mount m
// from volume v: the volume's directory, or for a subPath the mount point
// it is pinned at.
func (r *Runtime) volumeSource(pod *cluster.Pod, container string, index int, v cluster.Volume, m cluster.VolumeMount) (string, error) {
	dir, err := r.volumeDir(pod, v)
	if err != nil || m.SubPath == "" {
		return dir, err
	}
	sub := m.SubPath
	if v.Config() {
		if sub, err = configSubPath(dir, sub); err != nil {
			return "", fmt.Errorf("volume mount %s: %w", m.Name, err)
		}
	}
	target := r.subPathTarget(pod.UID, container, index)
	if err := bindSubPath(dir, sub, target); err != nil {
		return "", fmt.Errorf("volume mount %s: %w", m.Name, err)
	}
	return target, nil
}

// unpinSubPaths unmounts the subPath mount points of one container (dir
// is <pod dir>/volume-subpaths/<container>) and removes them and dir. It
// never removes recursively: a mount point that is still a mount (and so
// not empty, or busy) makes it fail, and the volume's data is left alone.
func unpinSubPaths(dir string) error {
	var errs []error
	for _, m := range mountsUnder(dir) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// unpinContainerSubPaths undoes the subPath binds of one container of a pod.
func (r *Runtime) unpinContainerSubPaths(uid, container string) error {
	if err := unpinSubPaths(filepath.Join(r.podDir(uid), subPathsDir, container)); err != nil {
		return fmt.Errorf("subPath mounts of container %s: %w", container, err)
	}
	return nil
}

// unpinPodSubPaths undoes the subPath binds of every container of the pod
// whose directory is dir, before anything removes that directory.
func unpinPodSubPaths(dir string) error {
	root := filepath.Join(dir, subPathsDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, unpinSubPaths(filepath.Join(root, e.Name())))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(root); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// restoreSubPaths binds again the subPaths of the pod's containers whose
// mount points exist but are not mounted: after a host reboot containerd
// still has the containers, whose specs name those mount points, but the
// binds are gone, and a new task would get an empty directory instead of
// the subPath. The subPath is resolved again, as safely as the first time;
// where that fails the mount point is removed, so that the container
// fails to start rather than run without its data.
// Only the volumes named for which volume reports true are looked at.
func (r *Runtime) restoreSubPaths(pod *cluster.Pod, volume func(name string) bool) {
	vols := map[string]cluster.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, c := range append(append([]cluster.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if validName(c.Name) != nil {
			continue
		}
		for i, m := range c.VolumeMounts {
			target := r.subPathTarget(pod.UID, c.Name, i)
			v, ok := vols[m.Name]
			if m.SubPath == "" || !ok || !volume(m.Name) || isMountPoint(target) {
				continue
			}
			if _, err := os.Lstat(target); err != nil {
				continue // never made: the container's creation binds it
			}
			if _, err := r.volumeSource(pod, c.Name, i, v, m); err != nil {
				r.logger.Warn("subPath not bound again; its container will not start", "pod", pod.Key(), "container", c.Name, "err", err)
				_ = os.Remove(target)
			}
		}
	}
}
