package cluster

import "slices"

// KindPersistentVolumeClaim is a standalone claim: a directory on one node,
// bound where its first pod lands, which then follows its pods as a
// StatefulSet claim does (ClaimLocation records the node, keyed
// "namespace/name" like a StatefulSet's "data-db-0").
const KindPersistentVolumeClaim ObjectKind = "PersistentVolumeClaim"

// Access modes a claim may have. A claim is a directory on one node, so
// the modes that share it across nodes (ReadWriteMany, ReadOnlyMany) are
// refused.
const (
	// AccessReadWriteOnce lets every pod on the claim's node use it.
	AccessReadWriteOnce = "ReadWriteOnce"
	// AccessReadWriteOncePod lets one pod at a time use it.
	AccessReadWriteOncePod = "ReadWriteOncePod"
)

// VolumeClaim is a PersistentVolumeClaim's spec, and whether its deletion
// waits for the pods that use it.
type VolumeClaim struct {
	AccessModes []string `json:"accessModes,omitempty"`
	// Storage is the requested size in bytes: informational, as for
	// StatefulSet claims (a claim is a directory on its node's data
	// filesystem, which no quota bounds).
	Storage int64 `json:"storage,omitempty"`
	// StorageClassName and VolumeMode (Filesystem, or "" unset) are kept
	// as applied; they have no effect.
	StorageClassName *string `json:"storageClassName,omitempty"`
	VolumeMode       string  `json:"volumeMode,omitempty"`
	// Terminating: a delete was asked while a pod used the claim
	// (Kubernetes' kubernetes.io/pvc-protection). The claim goes, and its
	// data with it, once no pod uses it; no new pod is placed with it.
	Terminating bool `json:"terminating,omitempty"`
}

// OncePod reports whether the claim admits one pod at a time.
func (c *VolumeClaim) OncePod() bool { return slices.Contains(c.AccessModes, AccessReadWriteOncePod) }

// Clone returns a deep copy of c.
func (c *VolumeClaim) Clone() *VolumeClaim {
	if c == nil {
		return nil
	}
	x := *c
	x.AccessModes = slices.Clone(c.AccessModes)
	if c.StorageClassName != nil {
		s := *c.StorageClassName
		x.StorageClassName = &s
	}
	return &x
}

// Claim phases, as Kubernetes names them.
const (
	ClaimPending = "Pending"
	ClaimBound   = "Bound"
)

// ClaimStatus is what a claim's state says of it: Bound to the node that
// holds its data once a pod was placed with it, Pending before.
type ClaimStatus struct {
	Phase string `json:"phase"`
	Node  string `json:"node,omitempty"`
	// UsedBy are the pods that hold the claim (placed and not finished),
	// by name; a Terminating claim waits for them.
	UsedBy []string `json:"usedBy,omitempty"`
}

// StandaloneClaims returns the names of a pod's PersistentVolumeClaim
// volumes, in spec order.
func (p *Pod) StandaloneClaims() []string {
	var out []string
	for _, v := range p.Spec.Volumes {
		if v.Claim != nil && v.Claim.Standalone {
			out = append(out, v.Claim.ClaimName)
		}
	}
	return out
}

// UsesClaim reports whether p holds claim: it names it, is placed and has
// not finished. Unplaced pods hold nothing (they wait for the claim), as
// in Kubernetes' PVC protection.
func (p *Pod) UsesClaim(claim string) bool {
	if p.NodeName == "" || (!p.Terminating && (p.Status.Phase == PodSucceeded || p.Status.Phase == PodFailed)) || p.Status.Stopped {
		return false
	}
	return slices.Contains(p.StandaloneClaims(), claim)
}

// ClaimUsers returns the pods of a namespace that hold claim, by name.
func ClaimUsers(pods []*Pod, claim string) []string {
	var out []string
	for _, p := range pods {
		if p.UsesClaim(claim) {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// ClaimStatusOf derives a claim's status from its location record and the
// pods of its namespace.
func ClaimStatusOf(loc *ClaimLocation, pods []*Pod, claim string) ClaimStatus {
	st := ClaimStatus{Phase: ClaimPending, UsedBy: ClaimUsers(pods, claim)}
	if loc != nil {
		st.Phase, st.Node = ClaimBound, loc.Node
	}
	return st
}

// DirName is the directory, under volumes/<namespace>/ on its node, that
// holds a claim's data for pod podName: "<claim>-<pod>" for a StatefulSet
// claim (the pod name is stable), "pvc_<claim>" for a standalone one,
// whose pods come and go under new names. The underscore, which no
// Kubernetes name has, keeps the two apart.
func (c *ClaimSource) DirName(podName string) string {
	if c.Standalone {
		return "pvc_" + c.ClaimName
	}
	return c.ClaimName + "-" + podName
}

// ClaimSources returns a pod's claim volumes, in spec order.
func (p *Pod) ClaimSources() []*ClaimSource {
	var out []*ClaimSource
	for _, v := range p.Spec.Volumes {
		if v.Claim != nil {
			out = append(out, v.Claim)
		}
	}
	return out
}
