package manifest

import (
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Security settings: the pod's and each container's securityContext, and
// the host namespaces. What Kubernetes accepts is accepted and validated as
// Kubernetes does; what Shoal cannot honour (SELinux, Windows, AppArmor
// profiles other than the default, the host network) is refused, because
// a user who asked for it would otherwise run without it.

// hostNamespaces converts hostPID and hostIPC. hostNetwork: false is the
// default and accepted; true is refused here rather than by the shape, to
// say why and what to do instead.
func (c *conv) hostNamespaces(s *corev1.PodSpec, p string, out *cluster.PodSpec) {
	if s.HostNetwork {
		c.errf(p+".hostNetwork", "not supported yet: pods use the cluster network; publish ports with hostPort")
	}
	out.HostPID, out.HostIPC = s.HostPID, s.HostIPC
}

// podSecurity converts spec.securityContext (p is the pod spec's path). A
// context that sets nothing Shoal stores (`{}`, or only no-ops such as
// fsGroupChangePolicy) is nil, as if absent.
func (c *conv) podSecurity(sc *corev1.PodSecurityContext, p string, hostIPC bool) *cluster.PodSecurityContext {
	if sc == nil {
		return nil
	}
	p += ".securityContext"
	out := &cluster.PodSecurityContext{
		RunAsUser:      c.userID(p+".runAsUser", sc.RunAsUser),
		RunAsGroup:     c.groupID(p+".runAsGroup", sc.RunAsGroup),
		RunAsNonRoot:   sc.RunAsNonRoot,
		FSGroup:        c.groupID(p+".fsGroup", sc.FSGroup),
		SeccompProfile: c.seccomp(p+".seccompProfile", sc.SeccompProfile),
		Sysctls:        c.sysctls(p+".sysctls", sc.Sysctls, hostIPC),
	}
	for i, g := range sc.SupplementalGroups {
		c.groupID(index(p+".supplementalGroups", i), &g)
		out.SupplementalGroups = append(out.SupplementalGroups, g)
	}
	c.appArmor(p+".appArmorProfile", sc.AppArmorProfile)
	// Shoal gives a volume to fsGroup when its root does not already
	// belong to it, which is OnRootMismatch; Always asks for no more than
	// the same result.
	if fp := sc.FSGroupChangePolicy; fp != nil && *fp != corev1.FSGroupChangeAlways && *fp != corev1.FSGroupChangeOnRootMismatch {
		c.errf(p+".fsGroupChangePolicy", "%q is not valid (Always or OnRootMismatch)", *fp)
	}
	if sp := sc.SupplementalGroupsPolicy; sp != nil && *sp != corev1.SupplementalGroupsPolicyMerge {
		c.errf(p+".supplementalGroupsPolicy", "%q is not supported by Shoal (only Merge: the groups of the image's /etc/group are kept)", *sp)
	}
	if isEmpty(reflect.ValueOf(out)) {
		return nil
	}
	return out
}

// containerSecurity converts a container's securityContext (p is the
// container's path); nil when it sets nothing.
func (c *conv) containerSecurity(sc *corev1.SecurityContext, p string) *cluster.SecurityContext {
	if sc == nil {
		return nil
	}
	p += ".securityContext"
	out := &cluster.SecurityContext{
		RunAsUser:                c.userID(p+".runAsUser", sc.RunAsUser),
		RunAsGroup:               c.groupID(p+".runAsGroup", sc.RunAsGroup),
		RunAsNonRoot:             sc.RunAsNonRoot,
		ReadOnlyRootFilesystem:   sc.ReadOnlyRootFilesystem,
		AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
		Privileged:               sc.Privileged,
		Capabilities:             c.capabilities(p+".capabilities", sc.Capabilities),
		SeccompProfile:           c.seccomp(p+".seccompProfile", sc.SeccompProfile),
	}
	if pm := sc.ProcMount; pm != nil {
		out.ProcMount = string(*pm)
		if *pm != corev1.DefaultProcMount && *pm != corev1.UnmaskedProcMount {
			c.errf(p+".procMount", "%q is not valid (Default or Unmasked)", *pm)
		}
	}
	c.appArmor(p+".appArmorProfile", sc.AppArmorProfile)
	// Kubernetes' rules: privilege escalation cannot be turned off for a
	// process that holds every privilege already.
	if ape := sc.AllowPrivilegeEscalation; ape != nil && !*ape {
		if out.Privileged != nil && *out.Privileged {
			c.errf(p+".allowPrivilegeEscalation", "may not be false when privileged is true")
		}
		if out.Capabilities != nil && slices.Contains(out.Capabilities.Add, "SYS_ADMIN") {
			c.errf(p+".allowPrivilegeEscalation", "may not be false when capabilities.add has SYS_ADMIN")
		}
	}
	if isEmpty(reflect.ValueOf(out)) {
		return nil
	}
	return out
}

func (c *conv) userID(p string, id *int64) *int64 {
	if id != nil {
		c.checkID(p, *id, validation.IsValidUserID(*id))
	}
	return id
}

func (c *conv) groupID(p string, id *int64) *int64 {
	if id != nil {
		c.checkID(p, *id, validation.IsValidGroupID(*id))
	}
	return id
}

func (c *conv) checkID(p string, id int64, msgs []string) {
	if len(msgs) > 0 {
		c.errf(p, "%d is invalid: %s", id, strings.Join(msgs, "; "))
	}
}

// seccomp converts a seccomp profile. A Localhost profile is a file under
// the node's seccomp directory, so its path may not leave it.
func (c *conv) seccomp(p string, sp *corev1.SeccompProfile) *cluster.SeccompProfile {
	if sp == nil {
		return nil
	}
	out := &cluster.SeccompProfile{Type: string(sp.Type)}
	if sp.LocalhostProfile != nil {
		out.LocalhostProfile = *sp.LocalhostProfile
	}
	switch sp.Type {
	case corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
		if sp.LocalhostProfile != nil {
			c.errf(p+".localhostProfile", "may only be set when type is Localhost")
		}
	case corev1.SeccompProfileTypeLocalhost:
		lp := out.LocalhostProfile
		if lp == "" {
			c.errf(p+".localhostProfile", "required when type is Localhost (a file under the node's seccomp profile directory)")
		} else if path.IsAbs(lp) || slices.Contains(strings.Split(lp, "/"), "..") {
			c.errf(p+".localhostProfile", "%q must be a relative path without '..'", lp)
		}
	case "":
		c.errf(p+".type", "required (RuntimeDefault, Unconfined or Localhost)")
	default:
		c.errf(p+".type", "%q is not valid (RuntimeDefault, Unconfined or Localhost)", sp.Type)
	}
	return out
}

// appArmor accepts only the profile every container gets anyway.
func (c *conv) appArmor(p string, ap *corev1.AppArmorProfile) {
	if ap == nil {
		return
	}
	switch ap.Type {
	case corev1.AppArmorProfileTypeRuntimeDefault:
		if ap.LocalhostProfile != nil {
			c.errf(p+".localhostProfile", "may only be set when type is Localhost")
		}
	case "":
		c.errf(p+".type", "required (Shoal supports RuntimeDefault only)")
	default:
		c.errf(p+".type", "%q is not supported by Shoal (only RuntimeDefault, the default)", ap.Type)
	}
}

// appArmorAnnotationPrefix starts the deprecated form of a container's
// appArmorProfile, which Kubernetes still honours on pods:
// container.apparmor.security.beta.kubernetes.io/<container>: localhost/<profile>.
const appArmorAnnotationPrefix = "container.apparmor.security.beta.kubernetes.io/"

// appArmorAnnotations refuses the annotations that ask for an AppArmor
// profile other than the default, as appArmor refuses the field.
func (c *conv) appArmorAnnotations(annotations map[string]string) {
	for _, k := range sortedStrings(annotations) {
		if v := annotations[k]; strings.HasPrefix(k, appArmorAnnotationPrefix) && v != "runtime/default" {
			c.errf(field("metadata.annotations", k), "%q is not supported by Shoal (only runtime/default, the default)", v)
		}
	}
}

// capNameRE is a capability's name without its CAP_ prefix.
var capNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// capabilities converts added and dropped capabilities, without the CAP_
// prefix that Kubernetes accepts too ("CAP_NET_ADMIN" is "NET_ADMIN").
func (c *conv) capabilities(p string, caps *corev1.Capabilities) *cluster.Capabilities {
	if caps == nil {
		return nil
	}
	out := &cluster.Capabilities{Add: c.capNames(p+".add", caps.Add), Drop: c.capNames(p+".drop", caps.Drop)}
	if out.Add == nil && out.Drop == nil {
		return nil
	}
	return out
}

func (c *conv) capNames(p string, names []corev1.Capability) []string {
	var out []string
	for i, n := range names {
		// containerd's CRI upper-cases names as kubelet hands them over,
		// so Kubernetes runs "all" and "net_admin": so does Shoal.
		name := strings.TrimPrefix(strings.ToUpper(string(n)), "CAP_")
		if !capNameRE.MatchString(name) {
			c.errf(index(p, i), "%q is not a capability name (letters, digits and '_': NET_ADMIN, CAP_NET_ADMIN or ALL)", n)
		}
		out = append(out, name)
	}
	return out
}

// sysctlRE is Kubernetes' form of a sysctl name: segments of letters,
// digits, '-' and '_' separated by '.' or '/'.
var sysctlRE = regexp.MustCompile(`^([A-Za-z0-9]([-_A-Za-z0-9]*[A-Za-z0-9])?[./])*[A-Za-z0-9]([-_A-Za-z0-9]*[A-Za-z0-9])?$`)

const maxSysctlName = 253

// sysctls converts the pod's sysctls. Only namespaced ones may be set, as
// in Kubernetes: any other would change the whole node. With hostIPC the
// IPC ones would too.
func (c *conv) sysctls(p string, in []corev1.Sysctl, hostIPC bool) []cluster.Sysctl {
	var out []cluster.Sysctl
	seen := map[string]bool{}
	for i, s := range in {
		np := index(p, i) + ".name"
		switch ns := sysctlNamespace(s.Name); {
		case s.Name == "":
			c.errf(np, "required")
		case len(s.Name) > maxSysctlName || !sysctlRE.MatchString(s.Name):
			c.errf(np, "%q is not a sysctl name (like net.ipv4.tcp_syncookies: letters, digits, '_' and '-' separated by '.' or '/')", s.Name)
		case seen[s.Name]:
			c.errf(np, "%q is set twice", s.Name)
		case ns == "":
			c.errf(np, "%q is not a namespaced sysctl, so it would change the whole node (only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)", s.Name)
		case ns == "ipc" && hostIPC:
			c.errf(np, "%q may not be set with hostIPC: the pod shares the node's IPC namespace", s.Name)
		}
		seen[s.Name] = true
		out = append(out, cluster.Sysctl{Name: s.Name, Value: s.Value})
	}
	return out
}

// sysctlNamespace is the namespace a sysctl belongs to ("net" or "ipc"),
// "" for one that is not namespaced. In a name written with '/' the dots
// are part of segments (net/ipv4/conf/eth0.100/forwarding).
func sysctlNamespace(name string) string {
	name = cluster.SysctlName(name)
	switch {
	case strings.HasPrefix(name, "net."):
		return "net"
	case name == "kernel.sem", strings.HasPrefix(name, "kernel.shm"), strings.HasPrefix(name, "kernel.msg"),
		strings.HasPrefix(name, "fs.mqueue."):
		return "ipc"
	}
	return ""
}

// nonRootConflicts refuses a container that would run as user 0 with
// runAsNonRoot true, each taken from its own context or else the pod's:
// Kubernetes' kubelet never starts it. The error points at the container's
// field when the container sets one, else once at the pod's runAsUser.
func (c *conv) nonRootConflicts(s *cluster.PodSpec, p string) {
	podReported := false
	for _, list := range []struct {
		path       string
		containers []cluster.Container
	}{{p + ".initContainers", s.InitContainers}, {p + ".containers", s.Containers}} {
		for i := range list.containers {
			e := s.Effective(&list.containers[i])
			if e.RunAsNonRoot == nil || !*e.RunAsNonRoot || e.RunAsUser == nil || *e.RunAsUser != 0 {
				continue
			}
			cp := index(list.path, i) + ".securityContext"
			switch own := list.containers[i].SecurityContext; {
			case own != nil && own.RunAsUser != nil:
				c.errf(cp+".runAsUser", "0 (root) contradicts runAsNonRoot: the container would never start")
			case own != nil && own.RunAsNonRoot != nil:
				c.errf(cp+".runAsNonRoot", "true contradicts runAsUser 0 (root) from %s.securityContext: the container would never start", p)
			case !podReported:
				podReported = true
				c.errf(p+".securityContext.runAsUser", "0 (root) contradicts runAsNonRoot: the containers would never start")
			}
		}
	}
}
