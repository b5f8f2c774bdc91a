package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/apparmor"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// Every container starts from oci's default spec, which already holds the
// safe defaults: Docker's and containerd's default capability set,
// no_new_privs, and the masked and read-only /proc paths. securityOpts
// adds containerd's default seccomp profile and, where the host has
// AppArmor, its default profile, then applies the container's effective
// securityContext (cluster.PodSpec.Effective) and the pod's own settings.

// AppArmorProfile is the name of the default AppArmor profile Shoal loads
// (containerd's template) on hosts that have AppArmor enabled.
const AppArmorProfile = "shoal-default"

// appArmorEnabledPath reads "Y" when the kernel's AppArmor is enabled.
const appArmorEnabledPath = "/sys/module/apparmor/parameters/enabled"

// maxID is the largest uid or gid runc accepts.
const maxID = math.MaxInt32

// securityOpts returns the spec options enforcing container c's security
// settings. They must come after the image config (which sets the image's
// USER, kept when no runAsUser is given). A configuration that cannot be
// honoured (runAsNonRoot with an image running as root, an unreadable
// seccomp profile, an unknown capability) is a *rtapi.ConfigError.
func (r *Runtime) securityOpts(ctx context.Context, pod *cluster.Pod, c cluster.Container, img client.Image) ([]oci.SpecOpts, error) {
	opts, err := r.securityOptsFor(ctx, pod, c, img)
	if err != nil {
		return nil, &rtapi.ConfigError{Message: fmt.Sprintf("%v (pod: %q, container: %s)", err, pod.Key()+"("+pod.UID+")", c.Name)}
	}
	return opts, nil
}

func (r *Runtime) securityOptsFor(ctx context.Context, pod *cluster.Pod, c cluster.Container, img client.Image) ([]oci.SpecOpts, error) {
	sc := pod.Spec.Effective(&c)
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &cluster.PodSecurityContext{}
	}
	if err := checkIDs(sc, psc); err != nil {
		return nil, err
	}
	if isTrue(sc.RunAsNonRoot) {
		ispec, err := img.Spec(ctx)
		if err != nil {
			return nil, fmt.Errorf("read image config: %w", err)
		}
		if err := checkNonRoot(sc.RunAsUser, ispec.Config.User); err != nil {
			return nil, err
		}
	}
	opts := userOpts(sc)
	if gids := extraGroups(psc); len(gids) > 0 {
		opts = append(opts, withExtraGIDs(gids))
	}
	confine, err := r.confineOpts(sc)
	if err != nil {
		return nil, err
	}
	opts = append(opts, confine...)
	if sysctls, err := sysctlMap(psc.Sysctls); err != nil {
		return nil, err
	} else if len(sysctls) > 0 {
		opts = append(opts, withSysctls(sysctls))
	}
	if pod.Spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	}
	return opts, nil
}

// confineOpts are the capabilities, privileges, /proc masking, root
// filesystem, seccomp and AppArmor options; seccomp comes after the
// capabilities, as the default profile allows syscalls by capability.
func (r *Runtime) confineOpts(sc cluster.SecurityContext) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	privileged := isTrue(sc.Privileged)
	switch sc.ProcMount {
	case "", "Default":
	case "Unmasked":
		opts = append(opts, oci.WithMaskedPaths(nil), oci.WithReadonlyPaths(nil))
	default:
		return nil, fmt.Errorf("unknown procMount %q", sc.ProcMount)
	}
	if privileged {
		// As containerd's CRI does: every capability this agent has, every
		// host device, no masked paths, writable sysfs and cgroupfs, no
		// cgroup namespace, no seccomp or AppArmor confinement.
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed,
			oci.WithHostNamespace(specs.CgroupNamespace))
	} else {
		caps, err := capsOpt(sc.Capabilities)
		if err != nil {
			return nil, err
		}
		opts = append(opts, caps)
	}
	if privileged || isTrue(sc.AllowPrivilegeEscalation) {
		opts = append(opts, oci.WithNewPrivileges)
	} else {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if isTrue(sc.ReadOnlyRootFilesystem) {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if privileged {
		return opts, nil
	}
	sec, err := r.seccompOpt(sc.SeccompProfile)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec)
	if p := r.appArmorProfile(); p != "" {
		opts = append(opts, apparmor.WithProfile(p))
	}
	return opts, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// checkIDs refuses uids and gids runc cannot use.
func checkIDs(sc cluster.SecurityContext, psc *cluster.PodSecurityContext) error {
	check := func(what string, id *int64) error {
		if id != nil && (*id < 0 || *id > maxID) {
			return fmt.Errorf("%s %d out of range [0, %d]", what, *id, maxID)
		}
		return nil
	}
	errs := []error{check("runAsUser", sc.RunAsUser), check("runAsGroup", sc.RunAsGroup), check("fsGroup", psc.FSGroup)}
	for _, g := range psc.SupplementalGroups {
		errs = append(errs, check("supplemental group", &g))
	}
	return errors.Join(errs...)
}

// imageUser splits an image config's User ("uid", "name", "uid:gid",
// "name:group") into a uid, or the user's name when it is not numeric.
// An empty User runs as root.
func imageUser(user string) (uid int64, name string) {
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		return 0, ""
	}
	id, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return -1, u
	}
	return id, ""
}

// checkNonRoot enforces runAsNonRoot as the kubelet does: the uid is
// runAsUser, else the image's USER, which must then be numeric (a name
// cannot be verified without running the container).
func checkNonRoot(runAsUser *int64, imageUserField string) error {
	if runAsUser != nil {
		if *runAsUser == 0 {
			return errors.New("container's runAsUser breaks non-root policy")
		}
		return nil
	}
	uid, name := imageUser(imageUserField)
	switch {
	case name != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", name)
	case uid == 0:
		return errors.New("container has runAsNonRoot and image will run as root")
	}
	return nil
}

// userOpts set the process's uid and gid from runAsUser and runAsGroup.
// With runAsUser alone the group is the user's primary group in the
// image's /etc/passwd (0 if it has none); with runAsGroup alone the
// image's user keeps its uid. Either way the additional groups are the
// user's memberships in the image's /etc/group, as containerd's CRI does.
func userOpts(sc cluster.SecurityContext) []oci.SpecOpts {
	switch {
	case sc.RunAsUser != nil && sc.RunAsGroup != nil:
		uid, gid := uint32(*sc.RunAsUser), uint32(*sc.RunAsGroup)
		return []oci.SpecOpts{oci.WithUIDGID(uid, gid), oci.WithAdditionalGIDs(strconv.FormatUint(uint64(uid), 10))}
	case sc.RunAsUser != nil:
		uid := uint32(*sc.RunAsUser)
		return []oci.SpecOpts{oci.WithUserID(uid), oci.WithAdditionalGIDs(strconv.FormatUint(uint64(uid), 10))}
	case sc.RunAsGroup != nil:
		gid := uint32(*sc.RunAsGroup)
		return []oci.SpecOpts{func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
			uid := s.Process.User.UID // the image's, resolved by the image config
			return oci.Compose(oci.WithUIDGID(uid, gid),
				oci.WithAdditionalGIDs(strconv.FormatUint(uint64(uid), 10)))(ctx, cl, c, s)
		}}
	}
	return nil
}

// extraGroups are the gids every container of the pod gets on top of its
// user's: supplementalGroups, then fsGroup.
func extraGroups(psc *cluster.PodSecurityContext) []uint32 {
	var out []uint32
	add := func(g int64) {
		if !slices.Contains(out, uint32(g)) {
			out = append(out, uint32(g))
		}
	}
	for _, g := range psc.SupplementalGroups {
		add(g)
	}
	if psc.FSGroup != nil {
		add(*psc.FSGroup)
	}
	return out
}

func withExtraGIDs(gids []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, g := range gids {
			if !slices.Contains(s.Process.User.AdditionalGids, g) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, g)
			}
		}
		return nil
	}
}

// capsOpt applies capabilities add/drop to the default set in the spec.
func capsOpt(caps *cluster.Capabilities) (oci.SpecOpts, error) {
	if caps == nil {
		return func(context.Context, oci.Client, *containers.Container, *oci.Spec) error { return nil }, nil
	}
	// Validate now, so that a bad name is a configuration error.
	if _, err := capabilitySet(nil, nil, caps); err != nil {
		return nil, err
	}
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		var base []string
		if s.Process != nil && s.Process.Capabilities != nil {
			base = s.Process.Capabilities.Bounding
		}
		all, err := currentCaps()
		if err != nil {
			return err
		}
		set, err := capabilitySet(base, all, caps)
		if err != nil {
			return err
		}
		return oci.WithCapabilities(set)(ctx, cl, c, s)
	}, nil
}

// currentCaps are this process's effective capabilities: what "ALL" adds,
// as in containerd's CRI (a container cannot get more than its agent has).
var currentCaps = sync.OnceValues(cap.Current)

// capabilitySet is base with caps applied as Kubernetes does: "ALL" in add
// starts from all, "ALL" in drop from none, then the named ones are added,
// then the named ones dropped. Names are upper-cased and get the CAP_
// prefix when they lack it; unknown names are an error.
func capabilitySet(base, all []string, caps *cluster.Capabilities) ([]string, error) {
	add, addAll, err := capNames(caps.Add)
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := capNames(caps.Drop)
	if err != nil {
		return nil, err
	}
	set := slices.Clone(base)
	if addAll {
		set = slices.Clone(all)
	}
	if dropAll {
		set = []string{}
	}
	for _, c := range add {
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	return slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drop, c) }), nil
}

// capNames normalises capability names; all reports "ALL" among them.
func capNames(names []string) (out []string, all bool, err error) {
	for _, n := range names {
		n = strings.ToUpper(strings.TrimSpace(n))
		if n == "ALL" {
			all = true
			continue
		}
		if !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		if !slices.Contains(cap.Known(), n) {
			return nil, false, fmt.Errorf("unknown capability %q", n)
		}
		out = append(out, n)
	}
	return out, all, nil
}

// seccompOpt picks the seccomp filter: containerd's default profile unless
// the profile says Unconfined or names a Localhost file under SeccompDir.
func (r *Runtime) seccompOpt(p *cluster.SeccompProfile) (oci.SpecOpts, error) {
	typ := cluster.SeccompRuntimeDefault
	if p != nil && p.Type != "" {
		typ = p.Type
	}
	switch typ {
	case cluster.SeccompRuntimeDefault:
		return seccomp.WithDefaultProfile(), nil
	case cluster.SeccompUnconfined:
		return oci.WithSeccompUnconfined, nil
	case cluster.SeccompLocalhost:
		prof, err := r.localhostSeccomp(p.LocalhostProfile)
		if err != nil {
			return nil, err
		}
		return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			s.Linux.Seccomp = prof
			return nil
		}, nil
	}
	return nil, fmt.Errorf("unknown seccompProfile type %q", typ)
}

// localhostSeccomp reads an OCI seccomp profile (JSON) at path rel under
// SeccompDir; a path leaving it, through ".." or a symlink, is refused.
func (r *Runtime) localhostSeccomp(rel string) (*specs.LinuxSeccomp, error) {
	if rel == "" {
		return nil, errors.New("seccompProfile Localhost needs localhostProfile")
	}
	clean := filepath.Clean(rel)
	if !filepath.IsLocal(clean) {
		return nil, fmt.Errorf("seccomp localhostProfile %q escapes the seccomp profile directory", rel)
	}
	root, err := os.OpenRoot(r.cfg.SeccompDir)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile directory: %w", err)
	}
	defer root.Close()
	b, err := root.ReadFile(clean)
	if err != nil {
		return nil, fmt.Errorf("seccomp localhostProfile %q: %w", rel, err)
	}
	var prof specs.LinuxSeccomp
	if err := json.Unmarshal(b, &prof); err != nil {
		return nil, fmt.Errorf("seccomp localhostProfile %q: %w", rel, err)
	}
	return &prof, nil
}

// sysctlMap turns the pod's sysctls into the spec's map; names may use
// "/" as separator, as in Kubernetes. Which sysctls a pod may set is the
// admission policy's business.
func sysctlMap(sysctls []cluster.Sysctl) (map[string]string, error) {
	if len(sysctls) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(sysctls))
	for _, s := range sysctls {
		name := cluster.SysctlName(s.Name)
		if name == "" || strings.ContainsAny(name, " \t\n=") {
			return nil, fmt.Errorf("invalid sysctl name %q", s.Name)
		}
		out[name] = s.Value
	}
	return out, nil
}

func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}

// appArmor is decided once per process: whether the host has AppArmor is
// not going to change under a running agent.
var appArmor struct {
	once    sync.Once
	profile string
}

// appArmorProfile is the AppArmor profile for unprivileged containers, or
// "" where the host has no AppArmor or the profile cannot be loaded.
func (r *Runtime) appArmorProfile() string {
	appArmor.once.Do(func() {
		enabled, err := os.ReadFile(appArmorEnabledPath)
		use, why := appArmorDecision(enabled, err, func() error { return apparmor.LoadDefaultProfile(AppArmorProfile) })
		switch {
		case use:
			appArmor.profile = AppArmorProfile
			r.logger.Info("containers run under AppArmor", "profile", AppArmorProfile)
		case errors.Is(why, errAppArmorLoad):
			r.logger.Warn("AppArmor is enabled but its profile cannot be loaded: containers run without it", "err", why)
		default:
			r.logger.Debug("containers run without AppArmor", "why", why)
		}
	})
	return appArmor.profile
}

var errAppArmorLoad = errors.New("load AppArmor profile")

// appArmorDecision says whether containers get the default AppArmor
// profile: only when the kernel's AppArmor is enabled (its parameter,
// read as enabled with readErr, is "Y") and load succeeds; otherwise why
// not.
func appArmorDecision(enabled []byte, readErr error, load func() error) (bool, error) {
	switch {
	case errors.Is(readErr, fs.ErrNotExist):
		return false, errors.New("AppArmor is not available in this kernel")
	case readErr != nil:
		return false, fmt.Errorf("read %s: %w", appArmorEnabledPath, readErr)
	case strings.TrimSpace(string(enabled)) != "Y":
		return false, errors.New("AppArmor is disabled")
	}
	if err := load(); err != nil {
		return false, fmt.Errorf("%w %s: %w", errAppArmorLoad, AppArmorProfile, err)
	}
	return true, nil
}

// applyFSGroup gives the pod's emptyDirs and claim directories to its
// fsGroup, as Kubernetes' OnRootMismatch policy does: when a volume's root
// does not already have the group, group rwx and setgid, everything in it
// is chowned to the group and made group-rw, its directories also
// owner- and group-x and setgid, so that files the pod creates there
// get the group. It runs before any container of the pod starts.
func (r *Runtime) applyFSGroup(pod *cluster.Pod) error {
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.FSGroup == nil {
		return nil
	}
	gid := *psc.FSGroup
	if gid < 0 || gid > maxID {
		return fmt.Errorf("%w: fsGroup %d out of range", ErrInvalid, gid)
	}
	for _, v := range pod.Spec.Volumes {
		var dir string
		switch {
		case v.EmptyDir != nil:
			dir = filepath.Join(r.podDir(pod.UID), "volumes", v.Name)
		case v.Claim != nil:
			dir = r.ClaimDir(pod.Namespace, v.Claim, pod.Name)
		default:
			continue
		}
		if err := chownFSGroup(dir, int(gid)); err != nil {
			return fmt.Errorf("volume %s: fsGroup %d: %w", v.Name, gid, err)
		}
	}
	return nil
}

const (
	fsGroupRW   fs.FileMode = 0o660
	fsGroupExec fs.FileMode = 0o110
)

// chownFSGroup applies fsGroup gid to the tree at dir, inside an os.Root so
// that no symlink in it leads outside.
func chownFSGroup(dir string, gid int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	fi, err := root.Stat(".")
	if err != nil {
		return err
	}
	if !fsGroupMismatch(fi, gid) {
		return nil
	}
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := root.Lchown(p, -1, gid); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode() | fsGroupRW
		if info.IsDir() {
			mode |= fs.ModeSetgid | fsGroupExec
		}
		return root.Chmod(p, mode)
	})
}

// fsGroupMismatch reports whether a volume root needs the recursive walk.
func fsGroupMismatch(fi fs.FileInfo, gid int) bool {
	g, ok := fileGID(fi)
	if !ok || g != gid {
		return true
	}
	want := fsGroupRW | fsGroupExec
	return fi.Mode().Perm()&want != want || fi.Mode()&fs.ModeSetgid == 0
}

func fileGID(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Gid), true
}
