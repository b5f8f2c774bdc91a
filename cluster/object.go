package cluster

import (
	"maps"
	"slices"
	"time"
)

// ObjectKind is a kind stored as a generic Object: configuration that pods
// consume (ConfigMap, Secret), Namespaces, and kinds that exist only for
// the Kubernetes API itself, which Shoal stores and lists so that real
// manifests apply unchanged but which have no effect.
type ObjectKind string

// Object kinds, as Kubernetes spells them.
const (
	KindConfigMap          ObjectKind = "ConfigMap"
	KindSecret             ObjectKind = "Secret"
	KindNamespace          ObjectKind = "Namespace"
	KindServiceAccount     ObjectKind = "ServiceAccount"
	KindRole               ObjectKind = "Role"
	KindRoleBinding        ObjectKind = "RoleBinding"
	KindClusterRole        ObjectKind = "ClusterRole"
	KindClusterRoleBinding ObjectKind = "ClusterRoleBinding"
	// KindPodDisruptionBudget limits voluntary evictions (drain): see
	// budget.go.
	KindPodDisruptionBudget ObjectKind = "PodDisruptionBudget"
)

// ObjectKinds lists every ObjectKind.
var ObjectKinds = []ObjectKind{
	KindConfigMap, KindSecret, KindNamespace, KindServiceAccount,
	KindRole, KindRoleBinding, KindClusterRole, KindClusterRoleBinding,
	KindPodDisruptionBudget, KindPersistentVolumeClaim, KindHorizontalPodAutoscaler,
}

// Namespaced reports whether objects of the kind live in a namespace
// (Namespaces and the cluster-wide RBAC kinds do not).
func (k ObjectKind) Namespaced() bool {
	switch k {
	case KindNamespace, KindClusterRole, KindClusterRoleBinding:
		return false
	}
	return true
}

// APIOnly reports whether the kind exists only for the Kubernetes API
// (accounts and RBAC): Shoal keeps such objects but nothing acts on them.
func (k ObjectKind) APIOnly() bool {
	switch k {
	case KindServiceAccount, KindRole, KindRoleBinding, KindClusterRole, KindClusterRoleBinding:
		return true
	}
	return false
}

// Secret types Shoal accepts (Kubernetes' names).
const (
	SecretOpaque           = "Opaque"
	SecretDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	SecretDockerConfig     = "kubernetes.io/dockercfg"
	SecretTLS              = "kubernetes.io/tls"
	SecretBasicAuth        = "kubernetes.io/basic-auth"
	SecretSSHAuth          = "kubernetes.io/ssh-auth"
)

// Object is a ConfigMap, Secret, Namespace or API-only object.
type Object struct {
	Kind ObjectKind `json:"kind"`
	// Namespace is "" for cluster-wide kinds.
	Namespace   string            `json:"namespace,omitempty"`
	Name        string            `json:"name"`
	UID         string            `json:"uid"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`

	// Data and BinaryData are a ConfigMap's entries.
	Data       map[string]string `json:"data,omitempty"`
	BinaryData map[string][]byte `json:"binaryData,omitempty"`

	// SecretType is a Secret's type (Opaque, kubernetes.io/tls, ...).
	SecretType string `json:"secretType,omitempty"`
	// Sealed is a Secret's data, encrypted with the cluster's secret key
	// (package seal): the plaintext never enters the Raft log or a
	// snapshot. SecretKeys lists the data's keys, which are not secret,
	// so that listings need no decryption.
	Sealed     []byte   `json:"sealed,omitempty"`
	SecretKeys []string `json:"secretKeys,omitempty"`

	// Immutable ConfigMaps and Secrets refuse changes to their data.
	Immutable bool `json:"immutable,omitempty"`

	// Raw is an API-only object as it was applied (JSON), so that
	// `get -o yaml` shows what the user wrote.
	Raw []byte `json:"raw,omitempty"`

	// Budget is a PodDisruptionBudget's spec.
	Budget *DisruptionBudget `json:"budget,omitempty"`
	// Claim is a PersistentVolumeClaim's spec (see volumeclaim.go).
	Claim *VolumeClaim `json:"claim,omitempty"`
	// Autoscaler is a HorizontalPodAutoscaler's spec and status.
	Autoscaler *Autoscaler `json:"autoscaler,omitempty"`

	CreateIndex uint64    `json:"createIndex,omitempty"`
	ModifyIndex uint64    `json:"modifyIndex,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ObjectKey is the identity of an object: "kind/namespace/name".
func ObjectKey(kind ObjectKind, namespace, name string) string {
	return string(kind) + "/" + namespace + "/" + name
}

// Key is the object's ObjectKey.
func (o *Object) Key() string { return ObjectKey(o.Kind, o.Namespace, o.Name) }

// Clone returns a deep copy of o.
func (o *Object) Clone() *Object {
	c := *o
	c.Labels = cloneMap(o.Labels)
	c.Annotations = cloneMap(o.Annotations)
	c.Data = cloneMap(o.Data)
	if o.BinaryData != nil {
		c.BinaryData = make(map[string][]byte, len(o.BinaryData))
		for k, v := range o.BinaryData {
			c.BinaryData[k] = slices.Clone(v)
		}
	}
	c.Sealed = slices.Clone(o.Sealed)
	c.SecretKeys = slices.Clone(o.SecretKeys)
	c.Raw = slices.Clone(o.Raw)
	if o.Budget != nil {
		b := *o.Budget
		b.Selector = cloneMap(o.Budget.Selector)
		c.Budget = &b
	}
	c.Claim = o.Claim.Clone()
	c.Autoscaler = o.Autoscaler.Clone()
	return &c
}

// ConfigKeys lists a ConfigMap's keys (Data and BinaryData) or a Secret's,
// sorted.
func (o *Object) ConfigKeys() []string {
	if o.Kind == KindSecret {
		return slices.Sorted(slices.Values(o.SecretKeys))
	}
	keys := slices.Collect(maps.Keys(o.Data))
	keys = append(keys, slices.Collect(maps.Keys(o.BinaryData))...)
	slices.Sort(keys)
	return keys
}

// Object returns one object.
func (s *State) Object(kind ObjectKind, namespace, name string) (*Object, bool) {
	return get[*Object](s.objects, ObjectKey(kind, namespace, name))
}

// Objects returns the objects of one kind, by namespace and name; with a
// namespace, only those in it.
func (s *State) Objects(kind ObjectKind, namespace string) []*Object {
	return all[*Object](s.objects, objectPrefix(kind, namespace))
}

// AllObjects iterates over every object, by kind, namespace and name.
func (s *State) AllObjects() []*Object { return all[*Object](s.objects, "") }

func objectPrefix(kind ObjectKind, namespace string) string {
	if namespace == "" {
		return string(kind) + "/"
	}
	return string(kind) + "/" + namespace + "/"
}

// BuiltinNamespaces always exist and cannot be deleted, as in Kubernetes
// (manifests for cluster add-ons name kube-system).
var BuiltinNamespaces = []string{DefaultNamespace, "kube-node-lease", "kube-public", "kube-system"}

// NamespaceExists reports whether a namespace may hold objects: it was
// created, or it is built in.
func (s *State) NamespaceExists(ns string) bool {
	_, ok := s.Object(KindNamespace, "", ns)
	return ok || slices.Contains(BuiltinNamespaces, ns)
}

// NamespaceExists reports whether a namespace exists as of this change.
func (t *Txn) NamespaceExists(ns string) bool {
	_, ok := t.Object(KindNamespace, "", ns)
	return ok || slices.Contains(BuiltinNamespaces, ns)
}

// Object returns an object as of this change.
func (t *Txn) Object(kind ObjectKind, namespace, name string) (*Object, bool) {
	return getTxn[*Object](t.objects, ObjectKey(kind, namespace, name))
}

// Objects returns the objects of one kind as of this change (see
// State.Objects).
func (t *Txn) Objects(kind ObjectKind, namespace string) []*Object {
	return allTxn[*Object](t.objects, objectPrefix(kind, namespace))
}

// PutObject stores o, stamping its indexes.
func (t *Txn) PutObject(o *Object) {
	if old, ok := t.Object(o.Kind, o.Namespace, o.Name); ok {
		o.CreateIndex = old.CreateIndex
	} else {
		o.CreateIndex = t.index
	}
	o.ModifyIndex = t.index
	key := o.Key()
	t.objects.Insert([]byte(key), o)
	t.objectChanged(o.Kind, key)
}

// RestoreObject puts an object from a snapshot, indexes as they were.
func (t *Txn) RestoreObject(o *Object) {
	t.restored()
	t.copyObject(o)
}

// DeleteObject removes an object (what a Namespace held is left for the
// caller).
func (t *Txn) DeleteObject(kind ObjectKind, namespace, name string) {
	key := ObjectKey(kind, namespace, name)
	t.objects.Delete([]byte(key))
	t.objectChanged(kind, key)
}

// Workloads returns every workload as of this change.
func (t *Txn) Workloads() []*Workload { return allTxn[*Workload](t.workloads, "") }

// ServicesIn returns a namespace's Services as of this change.
func (t *Txn) ServicesIn(ns string) []*Service { return allTxn[*Service](t.services, ns+"/") }

// PodsIn returns a namespace's pods as of this change.
func (t *Txn) PodsIn(ns string) []*Pod { return allTxn[*Pod](t.pods, ns+"/") }
