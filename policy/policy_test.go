package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"shoal/cluster"
)

func ptr[T any](v T) *T { return &v }

// plain is a pod that sets nothing about security: baseline accepts it,
// restricted does not.
func plain(muts ...func(*cluster.PodSpec)) *cluster.PodSpec {
	s := &cluster.PodSpec{
		InitContainers: []cluster.Container{{Name: "init", Image: "busybox"}},
		Containers: []cluster.Container{{Name: "web", Image: "nginx",
			Ports: []cluster.ContainerPort{{ContainerPort: 80}}}},
		Volumes: []cluster.Volume{{Name: "scratch", EmptyDir: &cluster.EmptyDirSource{}}},
	}
	for _, m := range muts {
		m(s)
	}
	return s
}

// hardenedContext is a container securityContext with everything the
// restricted level asks of a container.
func hardenedContext() *cluster.SecurityContext {
	return &cluster.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &cluster.Capabilities{Drop: []string{"ALL"}},
	}
}

// hardened is a pod the restricted level accepts: non-root and
// RuntimeDefault seccomp at pod level, every container hardened, emptyDir
// and claim volumes only.
func hardened(muts ...func(*cluster.PodSpec)) *cluster.PodSpec {
	s := plain()
	s.SecurityContext = &cluster.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault},
	}
	s.InitContainers[0].SecurityContext = hardenedContext()
	s.Containers[0].SecurityContext = hardenedContext()
	s.Volumes = append(s.Volumes, cluster.Volume{Name: "data", Claim: &cluster.ClaimSource{ClaimName: "data"}})
	for _, m := range muts {
		m(s)
	}
	return s
}

// k8sRestricted is the restricted-compliant pod of the Kubernetes docs
// ("Configure a Security Context" with the hardening the Pod Security
// Standards ask for): every setting at pod level, the container dropping
// all capabilities, a read-only root filesystem and an emptyDir.
func k8sRestricted() *cluster.PodSpec {
	return &cluster.PodSpec{
		SecurityContext: &cluster.PodSecurityContext{
			RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(3000)), FSGroup: ptr(int64(2000)),
			RunAsNonRoot:   ptr(true),
			SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault},
		},
		Volumes: []cluster.Volume{{Name: "sec-ctx-vol", EmptyDir: &cluster.EmptyDirSource{}}},
		Containers: []cluster.Container{{
			Name: "sec-ctx-demo", Image: "busybox:1.28",
			Command:      []string{"sh", "-c", "sleep 1h"},
			VolumeMounts: []cluster.VolumeMount{{Name: "sec-ctx-vol", MountPath: "/data/demo"}},
			SecurityContext: &cluster.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				ReadOnlyRootFilesystem:   ptr(true),
				Capabilities:             &cluster.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_BIND_SERVICE"}},
			},
		}},
	}
}

// k8sRestrictedPerContainer sets the same hardening on each container
// instead of the pod, with a Localhost seccomp profile.
func k8sRestrictedPerContainer() *cluster.PodSpec {
	sc := func() *cluster.SecurityContext {
		return &cluster.SecurityContext{
			RunAsUser: ptr(int64(65534)), RunAsNonRoot: ptr(true),
			AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
			Capabilities:   &cluster.Capabilities{Drop: []string{"ALL"}},
			SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompLocalhost, LocalhostProfile: "profiles/audit.json"},
			ProcMount:      "Default",
		}
	}
	return &cluster.PodSpec{
		InitContainers: []cluster.Container{{Name: "setup", Image: "busybox", SecurityContext: sc()}},
		Containers:     []cluster.Container{{Name: "app", Image: "app", SecurityContext: sc()}},
	}
}

// want is an expected violation: its field and level.
type want struct {
	field string
	level Level
}

func b(field string) want { return want{field, Baseline} }
func r(field string) want { return want{field, Restricted} }

func ctr(f func(*cluster.SecurityContext)) func(*cluster.PodSpec) {
	return func(s *cluster.PodSpec) {
		if s.Containers[0].SecurityContext == nil {
			s.Containers[0].SecurityContext = &cluster.SecurityContext{}
		}
		f(s.Containers[0].SecurityContext)
	}
}

func initCtr(f func(*cluster.SecurityContext)) func(*cluster.PodSpec) {
	return func(s *cluster.PodSpec) {
		if s.InitContainers[0].SecurityContext == nil {
			s.InitContainers[0].SecurityContext = &cluster.SecurityContext{}
		}
		f(s.InitContainers[0].SecurityContext)
	}
}

func podCtx(f func(*cluster.PodSecurityContext)) func(*cluster.PodSpec) {
	return func(s *cluster.PodSpec) {
		if s.SecurityContext == nil {
			s.SecurityContext = &cluster.PodSecurityContext{}
		}
		f(s.SecurityContext)
	}
}

func hostPath(path string) func(*cluster.PodSpec) {
	return func(s *cluster.PodSpec) {
		s.Volumes = append(s.Volumes, cluster.Volume{Name: "host", HostPath: &cluster.HostPathSource{Path: path}})
	}
}

func allSafeSysctls(sc *cluster.PodSecurityContext) {
	for _, n := range []string{
		"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
		"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
		"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
		"net.ipv4.tcp_keepalive_probes",
	} {
		sc.Sysctls = append(sc.Sysctls, cluster.Sysctl{Name: n, Value: "1"})
	}
}

var baselineCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT", "CAP_CHOWN"}

type checkCase struct {
	name    string
	spec    *cluster.PodSpec
	allowed []string
	want    []want
}

var baselineCases = []checkCase{
	{name: "plain pod", spec: plain()},
	{name: "hostPort is allowed", spec: plain(func(s *cluster.PodSpec) { s.Containers[0].Ports[0].HostPort = 8080 })},

	{name: "hostNetwork", spec: plain(func(s *cluster.PodSpec) { s.HostNetwork = true }), want: []want{b("hostNetwork")}},
	{name: "hostPID", spec: plain(func(s *cluster.PodSpec) { s.HostPID = true }), want: []want{b("hostPID")}},
	{name: "hostIPC", spec: plain(func(s *cluster.PodSpec) { s.HostIPC = true }), want: []want{b("hostIPC")}},

	{name: "privileged container", spec: plain(ctr(func(c *cluster.SecurityContext) { c.Privileged = ptr(true) })),
		want: []want{b("containers[0].securityContext.privileged")}},
	{name: "privileged init container", spec: plain(initCtr(func(c *cluster.SecurityContext) { c.Privileged = ptr(true) })),
		want: []want{b("initContainers[0].securityContext.privileged")}},
	{name: "privileged false", spec: plain(ctr(func(c *cluster.SecurityContext) { c.Privileged = ptr(false) }))},

	{name: "baseline capabilities", spec: plain(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities = &cluster.Capabilities{Add: baselineCaps}
	}))},
	{name: "SYS_ADMIN", spec: plain(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities = &cluster.Capabilities{Add: []string{"CHOWN", "SYS_ADMIN"}, Drop: []string{"ALL"}}
	})), want: []want{b("containers[0].securityContext.capabilities.add[1]")}},
	{name: "CAP_NET_RAW in init container", spec: plain(initCtr(func(c *cluster.SecurityContext) {
		c.Capabilities = &cluster.Capabilities{Add: []string{"CAP_NET_RAW"}}
	})), want: []want{b("initContainers[0].securityContext.capabilities.add[0]")}},
	{name: "capability names are case-sensitive", spec: plain(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities = &cluster.Capabilities{Add: []string{"chown"}}
	})), want: []want{b("containers[0].securityContext.capabilities.add[0]")}},

	{name: "hostPath", spec: plain(hostPath("/var/log")), want: []want{b("volumes[1].hostPath.path")}},
	{name: "hostPath under an allowed path", spec: plain(hostPath("/srv/shoal/data")), allowed: []string{"/srv/shoal"}},
	{name: "hostPath equal to an allowed path", spec: plain(hostPath("/srv/shoal")), allowed: []string{"/data", "/srv/shoal"}},
	{name: "hostPath unclean but under", spec: plain(hostPath("/srv/shoal/./data//x/")), allowed: []string{"/srv/shoal/"}},
	{name: "hostPath sibling prefix", spec: plain(hostPath("/srv/shoal2")), allowed: []string{"/srv/shoal"},
		want: []want{b("volumes[1].hostPath.path")}},
	{name: "hostPath escaping with ..", spec: plain(hostPath("/srv/shoal/../../etc")), allowed: []string{"/srv/shoal"},
		want: []want{b("volumes[1].hostPath.path")}},
	{name: "hostPath relative", spec: plain(hostPath("srv/shoal/data")), allowed: []string{"/"},
		want: []want{b("volumes[1].hostPath.path")}},
	{name: "hostPath relative with ..", spec: plain(hostPath("../srv/shoal")), allowed: []string{"/"},
		want: []want{b("volumes[1].hostPath.path")}},
	{name: "root allows every hostPath", spec: plain(hostPath("/etc")), allowed: []string{"/"}},
	{name: "a relative allowed path allows nothing", spec: plain(hostPath("/srv")), allowed: []string{"srv", ""},
		want: []want{b("volumes[1].hostPath.path")}},

	{name: "procMount Default", spec: plain(ctr(func(c *cluster.SecurityContext) { c.ProcMount = "Default" }))},
	{name: "procMount Unmasked", spec: plain(ctr(func(c *cluster.SecurityContext) { c.ProcMount = "Unmasked" })),
		want: []want{b("containers[0].securityContext.procMount")}},
	{name: "procMount Unmasked in init container", spec: plain(initCtr(func(c *cluster.SecurityContext) { c.ProcMount = "Unmasked" })),
		want: []want{b("initContainers[0].securityContext.procMount")}},

	{name: "seccomp RuntimeDefault and Localhost", spec: plain(
		podCtx(func(p *cluster.PodSecurityContext) {
			p.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault}
		}),
		ctr(func(c *cluster.SecurityContext) {
			c.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompLocalhost, LocalhostProfile: "p.json"}
		}))},
	{name: "seccomp Unconfined on the pod", spec: plain(podCtx(func(p *cluster.PodSecurityContext) {
		p.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}
	})), want: []want{b("securityContext.seccompProfile.type")}},
	{name: "seccomp Unconfined on an init container", spec: plain(initCtr(func(c *cluster.SecurityContext) {
		c.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}
	})), want: []want{b("initContainers[0].securityContext.seccompProfile.type")}},

	{name: "safe sysctls", spec: plain(podCtx(allSafeSysctls))},
	{name: "unsafe sysctl", spec: plain(podCtx(func(p *cluster.PodSecurityContext) {
		p.Sysctls = []cluster.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "kernel.msgmax", Value: "1"}}
	})), want: []want{b("securityContext.sysctls[1].name")}},

	{name: "root and privilege escalation are baseline-compliant", spec: plain(
		podCtx(func(p *cluster.PodSecurityContext) { p.RunAsUser = ptr(int64(0)); p.RunAsNonRoot = ptr(false) }),
		ctr(func(c *cluster.SecurityContext) { c.AllowPrivilegeEscalation = ptr(true) }))},
}

var restrictedCases = []checkCase{
	{name: "hardened pod", spec: hardened()},
	{name: "Kubernetes docs example", spec: k8sRestricted()},
	{name: "Kubernetes docs example, per container", spec: k8sRestrictedPerContainer()},
	{name: "hostPort is allowed", spec: hardened(func(s *cluster.PodSpec) { s.Containers[0].Ports[0].HostPort = 80 })},
	{name: "plain pod", spec: plain(), want: []want{
		r("initContainers[0].securityContext.runAsNonRoot"),
		r("initContainers[0].securityContext.allowPrivilegeEscalation"),
		r("initContainers[0].securityContext.capabilities.drop"),
		r("initContainers[0].securityContext.seccompProfile.type"),
		r("containers[0].securityContext.runAsNonRoot"),
		r("containers[0].securityContext.allowPrivilegeEscalation"),
		r("containers[0].securityContext.capabilities.drop"),
		r("containers[0].securityContext.seccompProfile.type"),
	}},

	// Baseline rules still apply, reported at the baseline level.
	{name: "hostNetwork", spec: hardened(func(s *cluster.PodSpec) { s.HostNetwork = true }), want: []want{b("hostNetwork")}},
	{name: "privileged init container", spec: hardened(initCtr(func(c *cluster.SecurityContext) { c.Privileged = ptr(true) })),
		want: []want{b("initContainers[0].securityContext.privileged")}},
	{name: "unsafe sysctl", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) {
		p.Sysctls = []cluster.Sysctl{{Name: "kernel.sem"}}
	})), want: []want{b("securityContext.sysctls[0].name")}},
	{name: "procMount Unmasked", spec: hardened(ctr(func(c *cluster.SecurityContext) { c.ProcMount = "Unmasked" })),
		want: []want{b("containers[0].securityContext.procMount")}},

	{name: "hostPath even under an allowed path", spec: hardened(hostPath("/srv/shoal/data")), allowed: []string{"/srv/shoal"},
		want: []want{r("volumes[2].hostPath")}},
	{name: "hostPath outside the allowed paths", spec: hardened(hostPath("/etc")), allowed: []string{"/srv/shoal"},
		want: []want{b("volumes[2].hostPath.path")}},
	{name: "configuration volumes are restricted-safe", spec: hardened(func(s *cluster.PodSpec) {
		s.Volumes = append(s.Volumes,
			cluster.Volume{Name: "cm", ConfigMap: &cluster.ConfigMapVolumeSource{ConfigMapProjection: cluster.ConfigMapProjection{Name: "c"}}},
			cluster.Volume{Name: "s", Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "s"}}},
			cluster.Volume{Name: "d", DownwardAPI: &cluster.DownwardAPIVolumeSource{}},
			cluster.Volume{Name: "p", Projected: &cluster.ProjectedVolumeSource{}})
	})},
	{name: "volume without a known source", spec: hardened(func(s *cluster.PodSpec) {
		s.Volumes = append(s.Volumes, cluster.Volume{Name: "odd"})
	}), want: []want{r("volumes[2]")}},

	{name: "allowPrivilegeEscalation unset", spec: hardened(ctr(func(c *cluster.SecurityContext) { c.AllowPrivilegeEscalation = nil })),
		want: []want{r("containers[0].securityContext.allowPrivilegeEscalation")}},
	{name: "allowPrivilegeEscalation true in init container", spec: hardened(initCtr(func(c *cluster.SecurityContext) {
		c.AllowPrivilegeEscalation = ptr(true)
	})), want: []want{r("initContainers[0].securityContext.allowPrivilegeEscalation")}},

	{name: "runAsNonRoot on every container", spec: hardened(
		podCtx(func(p *cluster.PodSecurityContext) { p.RunAsNonRoot = nil }),
		ctr(func(c *cluster.SecurityContext) { c.RunAsNonRoot = ptr(true) }),
		initCtr(func(c *cluster.SecurityContext) { c.RunAsNonRoot = ptr(true) }))},
	{name: "runAsNonRoot unset", spec: hardened(
		podCtx(func(p *cluster.PodSecurityContext) { p.RunAsNonRoot = nil }),
		ctr(func(c *cluster.SecurityContext) { c.RunAsNonRoot = ptr(true) })),
		want: []want{r("initContainers[0].securityContext.runAsNonRoot")}},
	{name: "runAsNonRoot false on the pod", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) { p.RunAsNonRoot = ptr(false) })),
		want: []want{r("securityContext.runAsNonRoot")}},
	{name: "runAsNonRoot false on a container", spec: hardened(ctr(func(c *cluster.SecurityContext) { c.RunAsNonRoot = ptr(false) })),
		want: []want{r("containers[0].securityContext.runAsNonRoot")}},

	{name: "runAsUser non-zero", spec: hardened(
		podCtx(func(p *cluster.PodSecurityContext) { p.RunAsUser = ptr(int64(1000)) }),
		ctr(func(c *cluster.SecurityContext) { c.RunAsUser = ptr(int64(1001)) }))},
	{name: "runAsUser 0 on the pod", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) { p.RunAsUser = ptr(int64(0)) })),
		want: []want{r("securityContext.runAsUser")}},
	{name: "runAsUser 0 on an init container", spec: hardened(initCtr(func(c *cluster.SecurityContext) { c.RunAsUser = ptr(int64(0)) })),
		want: []want{r("initContainers[0].securityContext.runAsUser")}},

	{name: "seccomp Localhost on the pod", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) {
		p.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompLocalhost, LocalhostProfile: "p.json"}
	}))},
	{name: "seccomp unset on one container", spec: hardened(
		podCtx(func(p *cluster.PodSecurityContext) { p.SeccompProfile = nil }),
		ctr(func(c *cluster.SecurityContext) {
			c.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault}
		})),
		want: []want{r("initContainers[0].securityContext.seccompProfile.type")}},
	{name: "seccomp type empty on the pod", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) {
		p.SeccompProfile = &cluster.SeccompProfile{}
	})), want: []want{r("securityContext.seccompProfile.type")}},
	{name: "seccomp Unconfined on a container", spec: hardened(ctr(func(c *cluster.SecurityContext) {
		c.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}
	})), want: []want{b("containers[0].securityContext.seccompProfile.type")}},
	{name: "seccomp Unconfined on the pod", spec: hardened(podCtx(func(p *cluster.PodSecurityContext) {
		p.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}
	})), want: []want{b("securityContext.seccompProfile.type")}},

	{name: "NET_BIND_SERVICE", spec: hardened(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities.Add = []string{"NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE"}
	}))},
	{name: "drop missing in init container", spec: hardened(initCtr(func(c *cluster.SecurityContext) { c.Capabilities = nil })),
		want: []want{r("initContainers[0].securityContext.capabilities.drop")}},
	{name: "drop without ALL", spec: hardened(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities.Drop = []string{"NET_RAW", "all"}
	})), want: []want{r("containers[0].securityContext.capabilities.drop")}},
	{name: "baseline capability", spec: hardened(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities.Add = []string{"NET_BIND_SERVICE", "CHOWN"}
	})), want: []want{r("containers[0].securityContext.capabilities.add[1]")}},
	{name: "capability beyond baseline", spec: hardened(ctr(func(c *cluster.SecurityContext) {
		c.Capabilities.Add = []string{"SYS_ADMIN"}
	})), want: []want{b("containers[0].securityContext.capabilities.add[0]")}},
}

func runCases(t *testing.T, level Level, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(tc.spec, Options{Level: level, AllowedHostPaths: tc.allowed})
			var got []want
			for _, v := range vs {
				got = append(got, want{v.Field, v.Level})
				if !strings.Contains(v.Message, string(v.Level)+" pod security level") {
					t.Errorf("%s: message %q does not name the %s level", v.Field, v.Message, v.Level)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Check(%s) =\n%v\nwant\n%v", level, vs, tc.want)
			}
		})
	}
}

func TestCheckBaseline(t *testing.T) { runCases(t, Baseline, baselineCases) }

func TestCheckRestricted(t *testing.T) { runCases(t, Restricted, restrictedCases) }

// everything breaks every rule there is.
func everything() *cluster.PodSpec {
	s := plain(hostPath("/etc"), podCtx(func(p *cluster.PodSecurityContext) {
		p.RunAsUser, p.RunAsNonRoot = ptr(int64(0)), ptr(false)
		p.SeccompProfile = &cluster.SeccompProfile{Type: cluster.SeccompUnconfined}
		p.Sysctls = []cluster.Sysctl{{Name: "kernel.sem"}}
	}), ctr(func(c *cluster.SecurityContext) {
		c.RunAsUser, c.Privileged, c.ProcMount = ptr(int64(0)), ptr(true), "Unmasked"
		c.Capabilities = &cluster.Capabilities{Add: []string{"SYS_ADMIN", "CHOWN"}}
	}))
	s.HostNetwork, s.HostPID, s.HostIPC = true, true, true
	s.Containers[0].Ports[0].HostPort = 80
	return s
}

func TestCheckOrder(t *testing.T) {
	vs := Check(everything(), Options{Level: Restricted, AllowedHostPaths: []string{"/srv"}})
	expected := []want{
		r("initContainers[0].securityContext.allowPrivilegeEscalation"),
		r("initContainers[0].securityContext.capabilities.drop"),
		r("containers[0].securityContext.runAsUser"),
		r("containers[0].securityContext.allowPrivilegeEscalation"),
		b("containers[0].securityContext.privileged"),
		b("containers[0].securityContext.capabilities.add[0]"),
		r("containers[0].securityContext.capabilities.add[1]"),
		r("containers[0].securityContext.capabilities.drop"),
		b("containers[0].securityContext.procMount"),
		b("volumes[1].hostPath.path"),
		r("securityContext.runAsUser"),
		r("securityContext.runAsNonRoot"),
		b("securityContext.seccompProfile.type"),
		b("securityContext.sysctls[0].name"),
		b("hostNetwork"), b("hostPID"), b("hostIPC"),
	}
	var got []want
	for _, v := range vs {
		got = append(got, want{v.Field, v.Level})
	}
	if !slices.Equal(got, expected) {
		t.Errorf("Check =\n%v\nwant\n%v", got, expected)
	}
}

func TestCheckLevels(t *testing.T) {
	for _, l := range []Level{Privileged, ""} {
		if vs := Check(everything(), Options{Level: l}); vs != nil {
			t.Errorf("Check(%q) = %v, want none", l, vs)
		}
	}
	if vs := Check(nil, Options{Level: Restricted}); vs != nil {
		t.Errorf("Check(nil) = %v", vs)
	}
	// An unknown level fails closed: checked as restricted.
	got, want := Check(plain(), Options{Level: "strict"}), Check(plain(), Options{Level: Restricted})
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Check(strict) = %v, want %v", got, want)
	}
	// Restricted reports everything baseline does, at the baseline level.
	base := Check(everything(), Options{Level: Baseline})
	var fromRestricted []Violation
	for _, v := range Check(everything(), Options{Level: Restricted}) {
		if v.Level == Baseline {
			fromRestricted = append(fromRestricted, v)
		}
	}
	if !slices.Equal(base, fromRestricted) {
		t.Errorf("baseline = %v\nrestricted's baseline violations = %v", base, fromRestricted)
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		spec    *cluster.PodSpec
		level   Level
		allowed []string
		want    string
	}{
		{plain(ctr(func(c *cluster.SecurityContext) { c.Privileged = ptr(true) })), Baseline, nil,
			"containers[0].securityContext.privileged: privileged containers are not allowed by the baseline pod security level (allow with: shoal policy set --level privileged)"},
		{hardened(func(s *cluster.PodSpec) { s.HostPID = true }), Restricted, nil,
			"hostPID: sharing the host's PID namespace is not allowed by the baseline pod security level (allow with: shoal policy set --level privileged)"},
		{plain(hostPath("/var/log/../log/app")), Baseline, nil,
			"volumes[1].hostPath.path: hostPath volumes are not allowed by the baseline pod security level (allow with: shoal policy set --level baseline --allow-host-path /var/log/app)"},
		{plain(hostPath("/srv/shoal2")), Baseline, []string{"/srv/shoal"},
			`volumes[1].hostPath.path: hostPath "/srv/shoal2" is outside the allowed host paths (/srv/shoal) and not allowed by the baseline pod security level (allow with: shoal policy set --level baseline --allow-host-path /srv/shoal2)`},
		{hardened(hostPath("/srv/shoal")), Restricted, []string{"/srv/shoal"},
			"volumes[2].hostPath: hostPath volumes are not allowed by the restricted pod security level (allow with: shoal policy set --level baseline)"},
		{hardened(ctr(func(c *cluster.SecurityContext) { c.AllowPrivilegeEscalation = nil })), Restricted, nil,
			"containers[0].securityContext.allowPrivilegeEscalation: the restricted pod security level requires allowPrivilegeEscalation: false (allow with: shoal policy set --level baseline)"},
		{hardened(podCtx(func(p *cluster.PodSecurityContext) { p.RunAsNonRoot = nil }), initCtr(func(c *cluster.SecurityContext) { c.RunAsNonRoot = ptr(true) })), Restricted, nil,
			"containers[0].securityContext.runAsNonRoot: the restricted pod security level requires runAsNonRoot: true, on the pod's securityContext or on every container's (allow with: shoal policy set --level baseline)"},
		{hardened(ctr(func(c *cluster.SecurityContext) { c.Capabilities.Add = []string{"KILL"} })), Restricted, nil,
			`containers[0].securityContext.capabilities.add[0]: the restricted pod security level requires capabilities.add to hold only NET_BIND_SERVICE, not "KILL" (allow with: shoal policy set --level baseline)`},
		{plain(podCtx(func(p *cluster.PodSecurityContext) { p.Sysctls = []cluster.Sysctl{{Name: "kernel.sem"}} })), Baseline, nil,
			`securityContext.sysctls[0].name: sysctl "kernel.sem" is not allowed by the baseline pod security level (allow with: shoal policy set --level privileged)`},
	}
	for _, tc := range tests {
		vs := Check(tc.spec, Options{Level: tc.level, AllowedHostPaths: tc.allowed})
		if len(vs) != 1 || vs[0].String() != tc.want {
			t.Errorf("got %v\nwant %s", vs, tc.want)
		}
	}
}

func TestExplain(t *testing.T) {
	if err := Explain("deployment web", "spec.template.spec", nil); err != nil {
		t.Errorf("Explain(none) = %v", err)
	}
	spec := plain(ctr(func(c *cluster.SecurityContext) { c.Privileged = ptr(true) }))
	err := Explain("deployment web", "spec.template.spec", Check(spec, Options{Level: Baseline}))
	want := "deployment web: spec.template.spec.containers[0].securityContext.privileged: privileged containers are not allowed by the baseline pod security level (allow with: shoal policy set --level privileged)"
	if err == nil || err.Error() != want {
		t.Errorf("Explain = %v\nwant %s", err, want)
	}
	vs := []Violation{{Field: "hostPID", Message: "m1", Level: Baseline}, {Field: "hostIPC", Message: "m2", Level: Baseline}}
	for _, tc := range []struct{ object, prefix, want string }{
		{"pod db", "spec", "pod db: spec.hostPID: m1; spec.hostIPC: m2"},
		{"", "", "hostPID: m1; hostIPC: m2"},
	} {
		if err := Explain(tc.object, tc.prefix, vs); err == nil || err.Error() != tc.want {
			t.Errorf("Explain(%q, %q) = %v, want %s", tc.object, tc.prefix, err, tc.want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range []Level{Privileged, Baseline, Restricted} {
		if got, err := ParseLevel(string(l)); err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %q, %v", l, got, err)
		}
	}
	for _, s := range []string{"x", "", "Baseline"} {
		_, err := ParseLevel(s)
		if want := fmt.Sprintf("level %q: expected privileged, baseline or restricted", s); err == nil || err.Error() != want {
			t.Errorf("ParseLevel(%q) = %v, want %s", s, err, want)
		}
	}
}

func TestCheckDoesNotModify(t *testing.T) {
	s := everything()
	before := s.Clone()
	Check(s, Options{Level: Restricted, AllowedHostPaths: []string{"/"}})
	if !reflect.DeepEqual(before, *s) {
		t.Error("Check modified the spec")
	}
}
