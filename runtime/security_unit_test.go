package runtime

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"shoal/cluster"
)

// dockerDefaultCaps is Docker's (and containerd's) default capability set.
var dockerDefaultCaps = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
	"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestCapabilitySet(t *testing.T) {
	base := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}
	all := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"}
	tests := []struct {
		name      string
		add, drop []string
		want      []string
		err       string
	}{
		{name: "none", want: base},
		{name: "add", add: []string{"NET_ADMIN"}, want: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW"}},
		{name: "add with prefix and case", add: []string{"cap_net_admin", "CAP_KILL"}, want: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW"}},
		{name: "drop", drop: []string{"NET_RAW"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "drop all", drop: []string{"ALL"}, want: []string{}},
		{name: "drop all add one", drop: []string{"all"}, add: []string{"NET_BIND_SERVICE"}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "add all", add: []string{"ALL"}, want: all},
		{name: "add all drop one", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW"}},
		{name: "drop wins over add", add: []string{"NET_ADMIN"}, drop: []string{"NET_ADMIN"}, want: base},
		{name: "unknown add", add: []string{"FLY"}, err: `unknown capability "CAP_FLY"`},
		{name: "unknown drop", drop: []string{"CAP_NOPE"}, err: `unknown capability "CAP_NOPE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := capabilitySet(base, all, &cluster.Capabilities{Add: tt.add, Drop: tt.drop})
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sorted(got), sorted(tt.want)) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if !slices.Equal(base, []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}) {
		t.Fatalf("base modified: %v", base)
	}
}

func TestCheckNonRoot(t *testing.T) {
	u := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		runAsUser *int64
		image     string
		err       string
	}{
		{name: "runAsUser", runAsUser: u(1000), image: ""},
		{name: "runAsUser over image root", runAsUser: u(1000), image: "0"},
		{name: "runAsUser over image name", runAsUser: u(1000), image: "app"},
		{name: "runAsUser 0", runAsUser: u(0), image: "1000", err: "container's runAsUser breaks non-root policy"},
		{name: "image uid", image: "1000"},
		{name: "image uid:gid", image: "1000:0"},
		{name: "image root by uid", image: "0", err: "container has runAsNonRoot and image will run as root"},
		{name: "image root:group", image: "0:1000", err: "container has runAsNonRoot and image will run as root"},
		{name: "image without user", image: "", err: "container has runAsNonRoot and image will run as root"},
		{name: "image user name", image: "app", err: "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root"},
		{name: "image root by name", image: "root:root", err: "non-numeric user (root)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkNonRoot(tt.runAsUser, tt.image)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestAppArmorDecision(t *testing.T) {
	loadErr := errors.New("apparmor_parser: not found")
	tests := []struct {
		name     string
		enabled  string
		readErr  error
		loadErr  error
		use      bool
		loadCall bool
		why      string
	}{
		{name: "enabled and loads", enabled: "Y\n", use: true, loadCall: true},
		{name: "enabled, cannot load", enabled: "Y\n", loadErr: loadErr, loadCall: true, why: "load AppArmor profile shoal-default: apparmor_parser: not found"},
		{name: "disabled", enabled: "N\n", why: "AppArmor is disabled"},
		{name: "no module", readErr: fs.ErrNotExist, why: "not available"},
		{name: "unreadable", readErr: fs.ErrPermission, why: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			use, why := appArmorDecision([]byte(tt.enabled), tt.readErr, func() error { called = true; return tt.loadErr })
			if use != tt.use || called != tt.loadCall {
				t.Fatalf("use %v (load called %v), want %v (%v)", use, called, tt.use, tt.loadCall)
			}
			if tt.why == "" && why != nil || tt.why != "" && (why == nil || !strings.Contains(why.Error(), tt.why)) {
				t.Fatalf("why = %v, want %q", why, tt.why)
			}
			if tt.loadErr != nil && !errors.Is(why, errAppArmorLoad) {
				t.Fatalf("load failure not marked: %v", why)
			}
		})
	}
}

func TestLocalhostSeccomp(t *testing.T) {
	dir := t.TempDir()
	seccompDir := filepath.Join(dir, "seccomp")
	if err := os.MkdirAll(filepath.Join(seccompDir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(seccompDir, "profiles", "ok.json"), `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}`)
	write(filepath.Join(seccompDir, "bad.json"), `{`)
	write(filepath.Join(dir, "outside.json"), `{"defaultAction":"SCMP_ACT_ALLOW"}`)
	if err := os.Symlink("../outside.json", filepath.Join(seccompDir, "link.json")); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{cfg: Config{SeccompDir: seccompDir}}
	prof, err := r.localhostSeccomp("profiles/ok.json")
	if err != nil || prof.DefaultAction != "SCMP_ACT_ERRNO" || len(prof.Syscalls) != 1 {
		t.Fatalf("ok profile: %+v %v", prof, err)
	}
	for _, p := range []string{"", "../outside.json", "/etc/passwd", "profiles/../../outside.json", "link.json", "missing.json", "bad.json"} {
		if _, err := r.localhostSeccomp(p); err == nil {
			t.Errorf("profile %q accepted", p)
		}
	}
}

func TestSysctlMap(t *testing.T) {
	got, err := sysctlMap([]cluster.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "0"}, {Name: "net/ipv4/conf/eth0.1/forwarding", Value: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["net.ipv4.tcp_syncookies"] != "0" || got["net.ipv4.conf.eth0/1.forwarding"] != "1" || len(got) != 2 {
		t.Fatalf("sysctls = %v", got)
	}
	if _, err := sysctlMap([]cluster.Sysctl{{Name: "a b"}}); err == nil {
		t.Fatal("bad name accepted")
	}
}

// The options that need no image, applied to containerd's default spec.
func TestConfineOpts(t *testing.T) {
	yes, no := true, false
	r := &Runtime{cfg: Config{SeccompDir: t.TempDir()}, logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name  string
		sc    cluster.SecurityContext
		check func(t *testing.T, s *oci.Spec)
	}{
		{name: "defaults", check: func(t *testing.T, s *oci.Spec) {
			if !slices.Equal(sorted(s.Process.Capabilities.Bounding), dockerDefaultCaps) ||
				!slices.Equal(sorted(s.Process.Capabilities.Effective), dockerDefaultCaps) {
				t.Errorf("caps %v", s.Process.Capabilities)
			}
			if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != "SCMP_ACT_ERRNO" || !s.Process.NoNewPrivileges {
				t.Errorf("seccomp %v, no_new_privs %v", s.Linux.Seccomp != nil, s.Process.NoNewPrivileges)
			}
			if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") || s.Root.Readonly {
				t.Errorf("masked %v readonly %v rootfs ro %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Root.Readonly)
			}
		}},
		{name: "escalation allowed", sc: cluster.SecurityContext{AllowPrivilegeEscalation: &yes}, check: func(t *testing.T, s *oci.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("no_new_privs set")
			}
		}},
		{name: "escalation refused", sc: cluster.SecurityContext{AllowPrivilegeEscalation: &no}, check: func(t *testing.T, s *oci.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("no_new_privs unset")
			}
		}},
		{name: "privileged", sc: cluster.SecurityContext{Privileged: &yes}, check: func(t *testing.T, s *oci.Spec) {
			cur, _ := currentCaps()
			if !slices.Equal(sorted(s.Process.Capabilities.Effective), sorted(cur)) || s.Linux.Seccomp != nil ||
				s.Process.NoNewPrivileges || len(s.Linux.MaskedPaths) != 0 || s.Process.ApparmorProfile != "" {
				t.Errorf("privileged spec: caps %v seccomp %v nnp %v masked %v", s.Process.Capabilities.Effective, s.Linux.Seccomp != nil, s.Process.NoNewPrivileges, s.Linux.MaskedPaths)
			}
			if d := s.Linux.Resources.Devices; len(d) != 1 || !d[0].Allow || d[0].Access != "rwm" {
				t.Errorf("device rules %+v", d)
			}
		}},
		{name: "unconfined, unmasked, read-only root", sc: cluster.SecurityContext{
			SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}, ProcMount: "Unmasked", ReadOnlyRootFilesystem: &yes,
		}, check: func(t *testing.T, s *oci.Spec) {
			if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 || !s.Root.Readonly {
				t.Errorf("seccomp %v masked %v readonly %v rootfs ro %v", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Root.Readonly)
			}
		}},
		{name: "drop all add one", sc: cluster.SecurityContext{Capabilities: &cluster.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_ADMIN"}}}, check: func(t *testing.T, s *oci.Spec) {
			if c := s.Process.Capabilities; !slices.Equal(c.Bounding, []string{"CAP_NET_ADMIN"}) || !slices.Equal(c.Permitted, []string{"CAP_NET_ADMIN"}) {
				t.Errorf("caps %+v", c)
			}
		}},
	}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := r.confineOpts(tt.sc)
			if err != nil {
				t.Fatal(err)
			}
			s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c"}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
	for _, sc := range []cluster.SecurityContext{
		{ProcMount: "Weird"},
		{SeccompProfile: &cluster.SeccompProfile{Type: "Strict"}},
		{SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompLocalhost, LocalhostProfile: "../x.json"}},
		{Capabilities: &cluster.Capabilities{Add: []string{"WINGS"}}},
	} {
		if _, err := r.confineOpts(sc); err == nil {
			t.Errorf("%+v accepted", sc)
		}
	}
}

func TestChownFSGroup(t *testing.T) {
	requireRoot(t, "chown")
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(vol, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "f"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(vol, "escape")); err != nil {
		t.Fatal(err)
	}
	const gid = 4321
	if err := chownFSGroup(vol, gid); err != nil {
		t.Fatal(err)
	}
	stat := func(p string) (int, fs.FileMode) {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Sys().(*syscall.Stat_t).Gid), fi.Mode()
	}
	for p, want := range map[string]fs.FileMode{
		vol:                            fs.ModeDir | fs.ModeSetgid | 0o775,
		filepath.Join(vol, "sub"):      fs.ModeDir | fs.ModeSetgid | 0o775,
		filepath.Join(vol, "sub", "f"): 0o660,
	} {
		if g, m := stat(p); g != gid || m != want {
			t.Errorf("%s: gid %d mode %v, want %d %v", p, g, m, gid, want)
		}
	}
	if g, m := stat(outside); g == gid || m&fs.ModeSetgid != 0 {
		t.Errorf("symlink target outside the volume changed: gid %d mode %v", g, m)
	}
	// OnRootMismatch: a root already right is not walked again.
	if err := os.Chmod(filepath.Join(vol, "sub", "f"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chownFSGroup(vol, gid); err != nil {
		t.Fatal(err)
	}
	if _, m := stat(filepath.Join(vol, "sub", "f")); m != 0o600 {
		t.Errorf("walked again: %v", m)
	}
}
