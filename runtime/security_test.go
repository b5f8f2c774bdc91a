package runtime_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/cap"

	"shoal/cluster"
	"shoal/runtime/rtapi"
)

// defaultCaps is Docker's and containerd's default capability set, which
// every container gets unless its securityContext says otherwise.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capMask is the /proc/<pid>/status bitmap of the named capabilities.
func capMask(t *testing.T, names ...string) uint64 {
	t.Helper()
	var m uint64
	for _, n := range names {
		i := slices.Index(cap.Known(), n)
		if i < 0 {
			t.Fatalf("unknown capability %s", n)
		}
		m |= 1 << i
	}
	return m
}

// procStatus parses /proc/<pid>/status text into its fields.
func procStatus(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func hexField(t *testing.T, st map[string]string, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(st[key], 16, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", key, st[key], err)
	}
	return v
}

// status is /proc/1/status of the container: its main process.
func (e *env) status(t *testing.T, uid, container string) map[string]string {
	t.Helper()
	code, out, errOut := e.exec(t, uid, container, "cat", "/proc/1/status")
	if code != 0 {
		t.Fatalf("%s: cat /proc/1/status: exit %d: %s", container, code, errOut)
	}
	return procStatus(out)
}

func (e *env) run(t *testing.T, uid, container, script string) (int, string) {
	t.Helper()
	code, out, errOut := e.exec(t, uid, container, "sh", "-c", script)
	return code, strings.TrimSpace(out + errOut)
}

func ptr[T any](v T) *T { return &v }

// TestSecurityContext runs containers under containerd with the defaults
// and with each securityContext setting, and looks at what their
// processes got.
func TestSecurityContext(t *testing.T) {
	e := newEnv(t)
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	agentCaps := hexField(t, procStatus(string(self)), "CapEff")

	t.Run("Confinement", func(t *testing.T) { testConfinement(t, e, agentCaps) })
	t.Run("UsersAndFSGroup", func(t *testing.T) { testUsers(t, e) })
	t.Run("HostPID", func(t *testing.T) { testHostPID(t, e) })
	t.Run("RunAsNonRootRefused", func(t *testing.T) { testNonRootRefused(t, e) })
}

func testConfinement(t *testing.T, e *env, agentCaps uint64) {
	sleep := func(name string, sc *cluster.SecurityContext) cluster.Container {
		c := sh(name, "exec sleep 3600")
		c.SecurityContext = sc
		return c
	}
	readonly := sleep("readonly", &cluster.SecurityContext{ReadOnlyRootFilesystem: ptr(true)})
	readonly.VolumeMounts = []cluster.VolumeMount{{Name: "scratch", MountPath: "/data"}}
	pod := newPod("confined",
		sleep("default", nil),
		sleep("dropall", &cluster.SecurityContext{Capabilities: &cluster.Capabilities{Drop: []string{"ALL"}}}),
		sleep("netadmin", &cluster.SecurityContext{Capabilities: &cluster.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_ADMIN"}}}),
		sleep("privileged", &cluster.SecurityContext{Privileged: ptr(true)}),
		sleep("unconfined", &cluster.SecurityContext{SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}}),
		sleep("unmasked", &cluster.SecurityContext{ProcMount: "Unmasked"}),
		readonly,
	)
	pod.Spec.Volumes = []cluster.Volume{{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{}}}
	pod.Spec.SecurityContext = &cluster.PodSecurityContext{Sysctls: []cluster.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "0"}}}
	e.start(t, pod)

	st := e.status(t, pod.UID, "default")
	if st["Seccomp"] != "2" || st["NoNewPrivs"] != "1" {
		t.Errorf("default: Seccomp %q NoNewPrivs %q, want 2 and 1", st["Seccomp"], st["NoNewPrivs"])
	}
	want := capMask(t, defaultCaps...)
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if got := hexField(t, st, k); got != want {
			names, _ := cap.FromBitmap(got)
			t.Errorf("default: %s %016x %v, want %016x", k, got, names, want)
		}
	}
	// Masked /proc paths read empty (/dev/null is mounted over them).
	const masked = "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; touch /x && echo rw"
	if code, out := e.run(t, pod.UID, "default", masked); out != "0\n0\nrw" || code != 0 {
		t.Errorf("default: /proc/timer_list and /sys/firmware masked, rootfs writable: exit %d %q", code, out)
	}
	for _, c := range []string{"unmasked", "privileged"} {
		if _, out := e.run(t, pod.UID, c, "wc -c < /proc/timer_list"); out == "0" {
			t.Errorf("%s: /proc/timer_list masked", c)
		}
	}
	if got := hexField(t, e.status(t, pod.UID, "dropall"), "CapEff"); got != 0 {
		t.Errorf("drop ALL: CapEff %016x", got)
	}
	if got := hexField(t, e.status(t, pod.UID, "netadmin"), "CapEff"); got != capMask(t, "CAP_NET_ADMIN") {
		t.Errorf("drop ALL, add NET_ADMIN: CapEff %016x", got)
	}
	st = e.status(t, pod.UID, "privileged")
	if got := hexField(t, st, "CapEff"); got != agentCaps || st["Seccomp"] != "0" || st["NoNewPrivs"] != "0" {
		t.Errorf("privileged: CapEff %016x (agent's %016x) Seccomp %q NoNewPrivs %q", got, agentCaps, st["Seccomp"], st["NoNewPrivs"])
	}
	if st := e.status(t, pod.UID, "unconfined"); st["Seccomp"] != "0" || st["NoNewPrivs"] != "1" {
		t.Errorf("Unconfined: Seccomp %q NoNewPrivs %q", st["Seccomp"], st["NoNewPrivs"])
	}
	if code, out := e.run(t, pod.UID, "readonly", "touch /x"); code == 0 || !strings.Contains(out, "Read-only file system") {
		t.Errorf("read-only root: touch /x: exit %d %q", code, out)
	}
	if code, out := e.run(t, pod.UID, "readonly", "touch /data/x && echo ok"); code != 0 || out != "ok" {
		t.Errorf("read-only root: emptyDir not writable: exit %d %q", code, out)
	}
	if _, out := e.run(t, pod.UID, "default", "cat /proc/sys/net/ipv4/tcp_syncookies"); out != "0" {
		t.Errorf("sysctl net.ipv4.tcp_syncookies = %q, want 0", out)
	}
}

func testUsers(t *testing.T, e *env) {
	c := sh("app", "exec sleep 3600")
	c.SecurityContext = &cluster.SecurityContext{RunAsGroup: ptr[int64](3000)}
	c.VolumeMounts = []cluster.VolumeMount{{Name: "data", MountPath: "/data"}}
	pod := newPod("users", c)
	pod.Spec.Volumes = []cluster.Volume{{Name: "data", EmptyDir: &cluster.EmptyDirSource{}}}
	pod.Spec.SecurityContext = &cluster.PodSecurityContext{
		RunAsUser: ptr[int64](1000), RunAsNonRoot: ptr(true),
		SupplementalGroups: []int64{4000}, FSGroup: ptr[int64](2000),
	}
	e.start(t, pod)
	_, out := e.run(t, pod.UID, "app", "id")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "uid=1000" || f[1] != "gid=3000" {
		t.Fatalf("id = %q, want uid=1000 gid=3000", out)
	}
	groups := strings.Split(strings.TrimPrefix(f[2], "groups="), ",")
	slices.Sort(groups)
	if !slices.Equal(groups, []string{"2000", "3000", "4000"}) {
		t.Errorf("id = %q, want groups 2000 (fsGroup), 3000, 4000 (supplemental)", out)
	}
	if _, out := e.run(t, pod.UID, "app", "stat -c '%g %A' /data"); out != "2000 drwxrwsrwx" {
		t.Errorf("emptyDir: %q, want group 2000 and setgid", out)
	}
	if code, out := e.run(t, pod.UID, "app", "touch /data/f && stat -c '%u %g' /data/f"); code != 0 || out != "1000 2000" {
		t.Errorf("file created in the emptyDir: exit %d %q, want owner 1000 group 2000", code, out)
	}
	// Non-root with capabilities in its bounding set only.
	if st := e.status(t, pod.UID, "app"); st["CapEff"] != "0000000000000000" || st["Seccomp"] != "2" {
		t.Errorf("non-root: CapEff %s Seccomp %s", st["CapEff"], st["Seccomp"])
	}
}

func testHostPID(t *testing.T, e *env) {
	host, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	pod := newPod("hostpid", sh("main", "exec sleep 3600"))
	pod.Spec.HostPID = true
	e.start(t, pod)
	_, out := e.run(t, pod.UID, "main", "cat /proc/1/comm")
	if out != strings.TrimSpace(string(host)) || out == "sleep" {
		t.Errorf("hostPID: /proc/1/comm = %q, want the host's %q", out, strings.TrimSpace(string(host)))
	}
}

func testNonRootRefused(t *testing.T, e *env) {
	c := sh("main", "exec sleep 3600")
	c.SecurityContext = &cluster.SecurityContext{RunAsNonRoot: ptr(true)}
	pod := newPod("nonroot", c)
	c = pod.Spec.Containers[0]
	ctx := context.Background()
	sb, err := e.rt.EnsureSandbox(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	err = e.rt.StartContainer(ctx, pod, sb, c, 1)
	var ce *rtapi.ConfigError
	if !errors.Is(err, rtapi.ErrCreateConfig) || !errors.As(err, &ce) ||
		!strings.Contains(ce.Message, "container has runAsNonRoot and image will run as root") {
		t.Fatalf("StartContainer = %v, want a config error about runAsNonRoot", err)
	}
	if _, _, ok := e.container(t, pod.UID, "main"); ok {
		t.Error("a container was created")
	}
	t.Log(ce.Message)
}
