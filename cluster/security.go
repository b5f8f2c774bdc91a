package cluster

import (
	"slices"
	"strings"
)

// PodSecurityContext is the pod-level securityContext: defaults for every
// container, and settings only a pod has (fsGroup, sysctls).
type PodSecurityContext struct {
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsGroup   *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
	// SupplementalGroups are added to every container's process.
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
	// FSGroup owns the pod's writable volumes (group, setgid directories)
	// and is added to every container's groups.
	FSGroup        *int64          `json:"fsGroup,omitempty"`
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`
	Sysctls        []Sysctl        `json:"sysctls,omitempty"`
}

// SecurityContext is a container's securityContext; unset fields take the
// pod's.
type SecurityContext struct {
	RunAsUser                *int64          `json:"runAsUser,omitempty"`
	RunAsGroup               *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	Privileged               *bool           `json:"privileged,omitempty"`
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
	// ProcMount is "Default" or "Unmasked".
	ProcMount string `json:"procMount,omitempty"`
}

// Capabilities are Linux capabilities added to or dropped from the
// default set, named as Kubernetes does ("NET_ADMIN", "ALL").
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Seccomp profile types, as Kubernetes spells them.
const (
	SeccompRuntimeDefault = "RuntimeDefault"
	SeccompUnconfined     = "Unconfined"
	SeccompLocalhost      = "Localhost"
)

// SeccompProfile picks a container's seccomp filter.
type SeccompProfile struct {
	Type             string `json:"type"`
	LocalhostProfile string `json:"localhostProfile,omitempty"`
}

// Sysctl is one namespaced kernel parameter set for the pod.
type Sysctl struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Clone returns a deep copy of c.
func (c *PodSecurityContext) Clone() *PodSecurityContext {
	if c == nil {
		return nil
	}
	out := *c
	out.RunAsUser, out.RunAsGroup, out.FSGroup = clonePtr(c.RunAsUser), clonePtr(c.RunAsGroup), clonePtr(c.FSGroup)
	out.RunAsNonRoot = clonePtr(c.RunAsNonRoot)
	out.SupplementalGroups = slices.Clone(c.SupplementalGroups)
	out.SeccompProfile = clonePtr(c.SeccompProfile)
	out.Sysctls = slices.Clone(c.Sysctls)
	return &out
}

// Clone returns a deep copy of c.
func (c *SecurityContext) Clone() *SecurityContext {
	if c == nil {
		return nil
	}
	out := *c
	out.RunAsUser, out.RunAsGroup = clonePtr(c.RunAsUser), clonePtr(c.RunAsGroup)
	out.RunAsNonRoot, out.ReadOnlyRootFilesystem = clonePtr(c.RunAsNonRoot), clonePtr(c.ReadOnlyRootFilesystem)
	out.AllowPrivilegeEscalation, out.Privileged = clonePtr(c.AllowPrivilegeEscalation), clonePtr(c.Privileged)
	out.SeccompProfile = clonePtr(c.SeccompProfile)
	if c.Capabilities != nil {
		out.Capabilities = &Capabilities{Add: slices.Clone(c.Capabilities.Add), Drop: slices.Clone(c.Capabilities.Drop)}
	}
	return &out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Effective is what container c runs with: its own settings, else the
// pod's, field by field (Kubernetes' precedence).
func (s *PodSpec) Effective(c *Container) SecurityContext {
	var out SecurityContext
	if p := s.SecurityContext; p != nil {
		out.RunAsUser, out.RunAsGroup, out.RunAsNonRoot = p.RunAsUser, p.RunAsGroup, p.RunAsNonRoot
		out.SeccompProfile = p.SeccompProfile
	}
	cc := c.SecurityContext
	if cc == nil {
		return out
	}
	if cc.RunAsUser != nil {
		out.RunAsUser = cc.RunAsUser
	}
	if cc.RunAsGroup != nil {
		out.RunAsGroup = cc.RunAsGroup
	}
	if cc.RunAsNonRoot != nil {
		out.RunAsNonRoot = cc.RunAsNonRoot
	}
	if cc.SeccompProfile != nil {
		out.SeccompProfile = cc.SeccompProfile
	}
	out.ReadOnlyRootFilesystem = cc.ReadOnlyRootFilesystem
	out.AllowPrivilegeEscalation = cc.AllowPrivilegeEscalation
	out.Privileged = cc.Privileged
	out.Capabilities = cc.Capabilities
	out.ProcMount = cc.ProcMount
	return out
}

// SysctlName returns a sysctl's name in its dotted form. A name may also
// be written with '/' as the separator, and then dots belong to segments
// (net/ipv4/conf/eth0.100/forwarding is net.ipv4.conf.eth0/100.forwarding,
// as sysctl(8) and Kubernetes read it).
func SysctlName(name string) string {
	if i := strings.IndexAny(name, "./"); i < 0 || name[i] != '/' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, name)
}
