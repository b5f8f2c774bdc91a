package policy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"shoal/cluster"
)

// baselineCapabilities are the capabilities the baseline level lets a
// container add (Docker's default set, less NET_RAW).
var baselineCapabilities = map[string]bool{
	"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true,
	"FSETID": true, "KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true,
	"SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true,
	"SYS_CHROOT": true,
}

// restrictedCapability is the only capability the restricted level lets a
// container add.
const restrictedCapability = "NET_BIND_SERVICE"

// safeSysctls are the namespaced sysctls the baseline level allows.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
}

const (
	everyContainer = ", on the pod's securityContext or on every container's"
	seccompTypes   = "seccompProfile.type RuntimeDefault or Localhost"
)

// container checks one container or init container; p is its path
// ("initContainers[0]"). Fields are checked in their declaration order.
func (c *checker) container(p string, ctr *cluster.Container) {
	sc := ctr.SecurityContext
	if sc == nil {
		sc = &cluster.SecurityContext{}
	}
	f := p + ".securityContext"
	if c.restricted {
		c.containerUser(f, sc)
		if ape := sc.AllowPrivilegeEscalation; ape == nil || *ape {
			c.requires(f+".allowPrivilegeEscalation", "allowPrivilegeEscalation: false")
		}
	}
	if isTrue(sc.Privileged) {
		c.baseline(f+".privileged", "privileged containers are")
	}
	c.capabilities(f+".capabilities", sc.Capabilities)
	c.containerSeccomp(f+".seccompProfile.type", sc.SeccompProfile)
	if pm := sc.ProcMount; pm != "" && pm != "Default" {
		c.baseline(f+".procMount", fmt.Sprintf("procMount %q is", pm))
	}
}

// containerUser applies the restricted level's non-root rules to a
// container. A pod-level runAsNonRoot: false is reported once, at the pod.
func (c *checker) containerUser(f string, sc *cluster.SecurityContext) {
	if isZero(sc.RunAsUser) {
		c.forbidden(f+".runAsUser", "running as root (runAsUser: 0) is")
	}
	var podNonRoot *bool
	if pod := c.spec.SecurityContext; pod != nil {
		podNonRoot = pod.RunAsNonRoot
	}
	switch {
	case sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
		c.requires(f+".runAsNonRoot", "runAsNonRoot: true")
	case sc.RunAsNonRoot == nil && podNonRoot == nil:
		c.requires(f+".runAsNonRoot", "runAsNonRoot: true"+everyContainer)
	}
}

// capabilities checks a container's added and dropped capabilities; f is
// the path of its capabilities.
func (c *checker) capabilities(f string, caps *cluster.Capabilities) {
	var add, drop []string
	if caps != nil {
		add, drop = caps.Add, caps.Drop
	}
	for j, name := range add {
		field := fmt.Sprintf("%s.add[%d]", f, j)
		switch n := strings.TrimPrefix(name, "CAP_"); {
		case !baselineCapabilities[n]:
			c.baseline(field, fmt.Sprintf("adding capability %q is", name))
		case c.restricted && n != restrictedCapability:
			c.requires(field, fmt.Sprintf("capabilities.add to hold only %s, not %q", restrictedCapability, name))
		}
	}
	if c.restricted && !slices.Contains(drop, "ALL") {
		c.requires(f+".drop", "capabilities.drop to include ALL")
	}
}

// containerSeccomp checks a container's seccomp profile; a container
// without one takes the pod's, which pod() checks.
func (c *checker) containerSeccomp(field string, sp *cluster.SeccompProfile) {
	switch {
	case sp != nil:
		c.seccompType(field, sp.Type)
	case c.restricted && (c.spec.SecurityContext == nil || c.spec.SecurityContext.SeccompProfile == nil):
		c.requires(field, seccompTypes+everyContainer)
	}
}

// seccompType checks a seccomp profile type set on the pod or a container.
func (c *checker) seccompType(field, typ string) {
	switch {
	case typ == cluster.SeccompUnconfined:
		c.baseline(field, "seccomp profile type Unconfined is")
	case c.restricted && typ != cluster.SeccompRuntimeDefault && typ != cluster.SeccompLocalhost:
		c.requires(field, seccompTypes)
	}
}

// volume checks one volume; p is its path ("volumes[1]"). Restricted
// allows only emptyDir and claim volumes, so a source it does not know is
// refused rather than let through.
func (c *checker) volume(p string, v cluster.Volume) {
	switch {
	case v.HostPath != nil:
		c.hostPath(p, v.HostPath.Path)
	case c.restricted && v.EmptyDir == nil && v.Claim == nil && !v.Config():
		c.requires(p, "volumes to be emptyDir, configMap, secret, downwardAPI, projected or claim")
	}
}

// hostPath checks a hostPath volume: baseline allows it when the cleaned
// path is equal to or under an allowed host path, restricted never does.
// Symlinks cannot be judged here: the runtime resolves them.
func (c *checker) hostPath(p, path string) {
	field := p + ".hostPath.path"
	clean, ok := cleanAbs(path)
	switch {
	case !ok:
		c.add(field, Baseline, fmt.Sprintf("hostPath %q is not an absolute path, which the baseline pod security level does not allow", path))
	case !underAny(clean, c.opt.AllowedHostPaths):
		what := "hostPath volumes are"
		if len(c.opt.AllowedHostPaths) > 0 {
			what = fmt.Sprintf("hostPath %q is outside the allowed host paths (%s) and", clean, strings.Join(c.opt.AllowedHostPaths, ", "))
		}
		c.add(field, Baseline, what+" not allowed by the baseline pod security level"+
			" (allow with: shoal policy set --level baseline --allow-host-path "+clean+")")
	case c.restricted:
		c.forbidden(p+".hostPath", "hostPath volumes are")
	}
}

// cleanAbs cleans path and reports whether the result is absolute with no
// ".." left.
func cleanAbs(path string) (string, bool) {
	clean := filepath.Clean(path)
	if !filepath.IsAbs(clean) || slices.Contains(strings.Split(clean, string(filepath.Separator)), "..") {
		return clean, false
	}
	return clean, true
}

// underAny reports whether the clean absolute path is equal to or under one
// of dirs, each cleaned; a dir that is not absolute allows nothing.
func underAny(path string, dirs []string) bool {
	for _, d := range dirs {
		dir, ok := cleanAbs(d)
		if !ok {
			continue
		}
		if path == dir || strings.HasPrefix(path, strings.TrimSuffix(dir, "/")+"/") {
			return true
		}
	}
	return false
}

// pod checks the pod-level settings: its securityContext, then the host
// namespaces.
func (c *checker) pod() {
	if sc := c.spec.SecurityContext; sc != nil {
		const f = "securityContext"
		if c.restricted && isZero(sc.RunAsUser) {
			c.forbidden(f+".runAsUser", "running as root (runAsUser: 0) is")
		}
		if c.restricted && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			c.requires(f+".runAsNonRoot", "runAsNonRoot: true")
		}
		if sp := sc.SeccompProfile; sp != nil {
			c.seccompType(f+".seccompProfile.type", sp.Type)
		}
		for j, s := range sc.Sysctls {
			if !safeSysctls[s.Name] {
				c.baseline(fmt.Sprintf("%s.sysctls[%d].name", f, j), fmt.Sprintf("sysctl %q is", s.Name))
			}
		}
	}
	if c.spec.HostNetwork {
		c.baseline("hostNetwork", "sharing the host's network namespace is")
	}
	if c.spec.HostPID {
		c.baseline("hostPID", "sharing the host's PID namespace is")
	}
	if c.spec.HostIPC {
		c.baseline("hostIPC", "sharing the host's IPC namespace is")
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func isZero(n *int64) bool { return n != nil && *n == 0 }
