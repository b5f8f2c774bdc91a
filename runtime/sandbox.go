package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	gocni "github.com/containerd/go-cni"
	"golang.org/x/sys/unix"

	"shoal/cluster"
	"shoal/internal/atomicfile"
	"shoal/runtime/rtapi"
)

// sandboxRecord is what the runtime keeps in pods/<uid>/sandbox.json so an
// agent that restarts finds the pod's namespace, IP and port mappings
// (needed again for CNI DEL) without asking CNI.
type sandboxRecord struct {
	UID       string              `json:"uid"`
	Namespace string              `json:"namespace"`
	Name      string              `json:"name"`
	NetNSPath string              `json:"netnsPath"`
	IP        string              `json:"ip,omitempty"`
	Ports     []gocni.PortMapping `json:"ports,omitempty"`
	Hostname  string              `json:"hostname"`
	// Fence lists the cgroups the fencing watchdog kills (fence.go).
	Fence []string `json:"fence,omitempty"`
}

const sandboxFile = "sandbox.json"

func (r *Runtime) netnsPath(uid string) string {
	return filepath.Join(r.cfg.NetNSDir, "shoal-"+uid)
}

// EnsureSandbox creates the pod's network namespace, attaches it to the
// node's bridge, writes hosts/resolv.conf and prepares its volumes; for a
// pod that has them already it returns what it recorded. Idempotent.
func (r *Runtime) EnsureSandbox(ctx context.Context, pod *cluster.Pod) (*rtapi.PodSandbox, error) {
	sb, err := r.ensureSandbox(ctx, pod)
	if err != nil {
		return nil, fmt.Errorf("ensure sandbox of pod %s (%s): %w", pod.Key(), pod.UID, err)
	}
	return sb, nil
}

func (r *Runtime) ensureSandbox(ctx context.Context, pod *cluster.Pod) (*rtapi.PodSandbox, error) {
	if err := validName(pod.UID); err != nil {
		return nil, err
	}
	dir := r.podDir(pod.UID)
	for _, d := range []string{dir, filepath.Join(dir, "logs"), filepath.Join(dir, "volumes")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := r.prepareVolumes(pod); err != nil {
		return nil, err
	}
	// A config volume's subPaths are bound again once it is written.
	r.restoreSubPaths(pod, func(name string) bool {
		i := slices.IndexFunc(pod.Spec.Volumes, func(v cluster.Volume) bool { return v.Name == name })
		return i >= 0 && !pod.Spec.Volumes[i].Config()
	})
	rec, err := r.readRecord(pod.UID)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	nsPath := r.netnsPath(pod.UID)
	fence := r.fenceCgroups(pod)
	if rec != nil && rec.IP != "" && isNetNS(rec.NetNSPath) {
		// A record from before fencing lists were kept, or of a pod
		// whose containers changed, gets the list now: before any of
		// its containers is created or started again.
		if !slices.Equal(rec.Fence, fence) {
			rec.Fence = fence
			if err := r.writeRecord(rec); err != nil {
				return nil, err
			}
		}
		return r.sandbox(rec), nil
	}
	// The IP the pod had: set up again, it asks for it back.
	var oldIP string
	if rec != nil && rec.IP != "" {
		oldIP = rec.IP
		// The namespace vanished (host reboot) but CNI may still hold
		// the IP and port mappings: release them before starting over.
		if err := r.cni.teardown(ctx, pod.UID, rec.NetNSPath, rec.Ports); err != nil {
			r.logger.Warn("release stale pod network", "pod", pod.Key(), "err", err)
		}
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	rec = &sandboxRecord{
		UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name,
		NetNSPath: nsPath, Ports: hostPorts(pod), Hostname: hostname, Fence: fence,
	}
	// Record before CNI so a failure half-way is still torn down by
	// RemovePod.
	if err := r.writeRecord(rec); err != nil {
		return nil, err
	}
	ip, err := r.attach(ctx, pod, rec, oldIP)
	if err != nil && oldIP != "" {
		// Another pod took the old IP meanwhile: any IP will do.
		r.logger.Warn("pod network set up again without its old IP", "pod", pod.Key(), "ip", oldIP, "err", err)
		ip, err = r.attach(ctx, pod, rec, "")
	}
	if err != nil {
		return nil, err
	}
	rec.IP = ip
	if err := r.writeEtcFiles(pod, rec); err != nil {
		return nil, err
	}
	if err := r.writeRecord(rec); err != nil {
		return nil, err
	}
	r.logger.Debug("sandbox ready", "pod", pod.Key(), "uid", pod.UID, "ip", ip)
	return r.sandbox(rec), nil
}

// attach creates the pod's namespace if need be and sets its network up,
// asking for IP want if not empty. On failure it undoes what CNI did and
// removes the namespace.
func (r *Runtime) attach(ctx context.Context, pod *cluster.Pod, rec *sandboxRecord, want string) (string, error) {
	if !isNetNS(rec.NetNSPath) {
		if err := createNetNS(rec.NetNSPath); err != nil {
			return "", fmt.Errorf("create network namespace: %w", err)
		}
	}
	ip, err := r.cni.setup(ctx, pod.UID, rec.NetNSPath, rec.Ports, want)
	if err != nil {
		if terr := r.cni.teardown(ctx, pod.UID, rec.NetNSPath, rec.Ports); terr != nil {
			r.logger.Warn("undo failed pod network setup", "pod", pod.Key(), "err", terr)
		}
		// A plugin that failed half-way can leave eth0 behind, and the next
		// attempt's bridge plugin would refuse it: start again from a new
		// namespace.
		if rerr := removeNetNS(rec.NetNSPath); rerr != nil {
			r.logger.Warn("remove network namespace of failed setup", "pod", pod.Key(), "err", rerr)
		}
		return "", err
	}
	return ip, nil
}

func (r *Runtime) sandbox(rec *sandboxRecord) *rtapi.PodSandbox {
	return &rtapi.PodSandbox{UID: rec.UID, NetNSPath: rec.NetNSPath, IP: rec.IP, Dir: r.podDir(rec.UID)}
}

func (r *Runtime) readRecord(uid string) (*sandboxRecord, error) {
	b, err := os.ReadFile(filepath.Join(r.podDir(uid), sandboxFile))
	if err != nil {
		return nil, err
	}
	var rec sandboxRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("read %s: %w", sandboxFile, err)
	}
	return &rec, nil
}

// writeRecord replaces the record atomically: a crash mid-write must not
// lose the IP and ports that CNI DEL needs.
func (r *Runtime) writeRecord(rec *sandboxRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.podDir(rec.UID), sandboxFile), b, 0o600)
}

// writeEtcFiles generates the pod's /etc/hosts, /etc/resolv.conf and
// /etc/hostname, bind-mounted into each of its containers.
func (r *Runtime) writeEtcFiles(pod *cluster.Pod, rec *sandboxRecord) error {
	dir := r.podDir(pod.UID)
	names := rec.Hostname
	if pod.Spec.Subdomain != "" {
		names = fmt.Sprintf("%s.%s.%s.svc.%s %s", rec.Hostname, pod.Spec.Subdomain, pod.Namespace, r.cfg.DNS.Domain, rec.Hostname)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		rec.IP + "\t" + names + "\n"
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(rec.Hostname+"\n"), 0o644); err != nil {
		return err
	}
	conf := podResolver(&pod.Spec, pod.Namespace, r.cfg.DNS, func() resolver { return hostResolver(hostResolvConfs...) })
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf.String()), 0o644)
}

// prepareVolumes creates the pod's emptyDirs (a tmpfs for medium Memory, so
// all containers share it), its claim directories and the directories of
// its config volumes (configvolume.go), and checks hostPaths; then it
// gives emptyDirs and claims to the pod's fsGroup.
func (r *Runtime) prepareVolumes(pod *cluster.Pod) error {
	for _, v := range pod.Spec.Volumes {
		if err := validName(v.Name); err != nil {
			return err
		}
		switch {
		case v.EmptyDir != nil:
			dir := filepath.Join(r.podDir(pod.UID), "volumes", v.Name)
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
			if v.EmptyDir.Medium == "Memory" && !isMountPoint(dir) {
				data := "mode=0777"
				if v.EmptyDir.SizeLimit > 0 {
					data += fmt.Sprintf(",size=%d", v.EmptyDir.SizeLimit)
				}
				if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
					return fmt.Errorf("mount tmpfs for volume %s: %w", v.Name, err)
				}
			}
			// World-writable like Kubernetes' emptyDir, for non-root images.
			if err := os.Chmod(dir, 0o777); err != nil {
				return err
			}
		case v.Claim != nil:
			if err := errors.Join(validName(v.Claim.ClaimName), validName(pod.Namespace), validName(pod.Name)); err != nil {
				return err
			}
			if err := os.MkdirAll(r.ClaimDir(pod.Namespace, v.Claim, pod.Name), 0o777); err != nil {
				return err
			}
		case v.HostPath != nil:
			if err := checkHostPath(v.HostPath); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Config():
			if err := r.prepareConfigVolume(pod, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: volume %s has no source", ErrInvalid, v.Name)
		}
	}
	return r.applyFSGroup(pod)
}

// checkHostPath applies Kubernetes' hostPath type semantics.
func checkHostPath(h *cluster.HostPathSource) error {
	if !filepath.IsAbs(h.Path) {
		return fmt.Errorf("%w: hostPath %q is not absolute", ErrInvalid, h.Path)
	}
	fi, err := os.Stat(h.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	want := func(ok bool, what string) error {
		if !exists {
			return fmt.Errorf("%w: hostPath %s does not exist", ErrInvalid, h.Path)
		}
		if !ok {
			return fmt.Errorf("%w: hostPath %s is not a %s", ErrInvalid, h.Path, what)
		}
		return nil
	}
	switch h.Type {
	case "":
		return nil
	case "DirectoryOrCreate":
		if !exists {
			return os.MkdirAll(h.Path, 0o755)
		}
		return want(fi.IsDir(), "directory")
	case "FileOrCreate":
		if !exists {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return want(fi.Mode().IsRegular(), "file")
	case "Directory":
		return want(exists && fi.IsDir(), "directory")
	case "File":
		return want(exists && fi.Mode().IsRegular(), "file")
	case "Socket":
		return want(exists && fi.Mode()&fs.ModeSocket != 0, "socket")
	case "CharDevice":
		return want(exists && fi.Mode()&fs.ModeCharDevice != 0, "character device")
	case "BlockDevice":
		return want(exists && fi.Mode()&fs.ModeDevice != 0 && fi.Mode()&fs.ModeCharDevice == 0, "block device")
	default:
		return fmt.Errorf("%w: unknown hostPath type %q", ErrInvalid, h.Type)
	}
}

// removeSandbox tears the pod's network down, unmounts what the runtime
// mounted under the pod directory and removes it. Claims live elsewhere
// and are left alone.
func (r *Runtime) removeSandbox(ctx context.Context, uid string) error {
	var errs []error
	nsPath := r.netnsPath(uid)
	rec, err := r.readRecord(uid)
	switch {
	case err == nil:
		if err := r.cni.teardown(ctx, uid, rec.NetNSPath, rec.Ports); err != nil {
			errs = append(errs, err)
		}
		nsPath = rec.NetNSPath
	case isNetNS(nsPath):
		// No record but a namespace: the setup crashed before writing it.
		if err := r.cni.teardown(ctx, uid, nsPath, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeNetNS(nsPath); err != nil {
		errs = append(errs, err)
	}
	if err := removePodDir(r.podDir(uid)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removePodDir unmounts what the runtime mounted under a pod's directory
// (subPath binds, tmpfs emptyDirs) and removes it. RemoveAll must never
// walk into a mount: a subPath bind of a claim or hostPath would have it
// delete the volume's data. So the subPath binds go first, removed without
// recursion, and the directory is kept (for the next RemovePod) while
// anything below it is still mounted.
func removePodDir(dir string) error {
	if err := unpinPodSubPaths(dir); err != nil {
		return fmt.Errorf("pod directory %s kept: %w", dir, err)
	}
	var errs []error
	for _, m := range mountsUnder(dir) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, ", ")))
	}
	if len(errs) > 0 {
		return fmt.Errorf("pod directory %s kept: %w", dir, errors.Join(errs...))
	}
	return os.RemoveAll(dir)
}

// createNetNS makes a new network namespace and bind-mounts it at path.
func createNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_ = os.Remove(path) // a stale, unmounted file from a crash
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread enters the new namespace and is never unlocked, so
		// Go discards it when this goroutine returns instead of reusing a
		// thread in the wrong namespace.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if path == "" || unix.Statfs(path, &st) != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

func isMountPoint(path string) bool {
	return slices.Contains(mountsUnder(filepath.Dir(path)), path)
}

// mountsUnder lists the mount points below dir, deepest first so they can
// be unmounted in order.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
