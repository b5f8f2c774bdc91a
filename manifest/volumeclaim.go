package manifest

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/cluster"
)

// volumeClaimShape is a standalone PersistentVolumeClaim. A claim is a
// directory on the node of its first pod, so the fields that pick or
// provision a volume elsewhere (selector, volumeName, dataSource) are
// refused.
var volumeClaimShape = top(map[string]*shape{
	"accessModes": leaf, "storageClassName": leaf, "volumeMode": leaf,
	"resources": obj(map[string]*shape{"requests": leaf}),
})

// volumeClaim converts a PersistentVolumeClaim; the spec is checked as a
// StatefulSet's claim templates are.
func (c *conv) volumeClaim(pvc *corev1.PersistentVolumeClaim) *Object {
	o := c.objectMetaOf(cluster.KindPersistentVolumeClaim, &pvc.ObjectMeta)
	spec := &cluster.VolumeClaim{StorageClassName: pvc.Spec.StorageClassName}
	if len(pvc.Spec.AccessModes) == 0 {
		c.errf("spec.accessModes", "required (ReadWriteOnce or ReadWriteOncePod)")
	}
	for i, m := range pvc.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			c.errf(index("spec.accessModes", i), "%q is not supported by Shoal (ReadWriteOnce or ReadWriteOncePod: a claim is a directory on one node)", m)
		}
		spec.AccessModes = append(spec.AccessModes, string(m))
	}
	if vm := pvc.Spec.VolumeMode; vm != nil {
		if *vm != corev1.PersistentVolumeFilesystem {
			c.errf("spec.volumeMode", "%q is not supported by Shoal (Filesystem only)", *vm)
		}
		spec.VolumeMode = string(*vm)
	}
	if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
		c.check("spec.storageClassName", *sc, validation.IsDNS1123Subdomain(*sc))
	}
	for name, q := range pvc.Spec.Resources.Requests {
		if name != corev1.ResourceStorage {
			c.errf(field("spec.resources.requests", string(name)), "resource %q is not supported for claims (storage only)", name)
			continue
		}
		n, err := bytesOf(q)
		if err != nil {
			c.errf("spec.resources.requests.storage", "%v", err)
		}
		spec.Storage = n
	}
	if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		c.errf("spec.resources.requests.storage", "required (the claim's size, as Kubernetes asks; Shoal does not limit it)")
	}
	o.Claim = spec
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o}
}

// volumeClaimToK8s writes a claim back; its status is added apart
// (WithClaimStatus), from the state.
func volumeClaimToK8s(o *cluster.Object, meta metav1.ObjectMeta) *corev1.PersistentVolumeClaim {
	out := &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: string(o.Kind)}, ObjectMeta: meta}
	cl := o.Claim
	if cl == nil {
		return out
	}
	for _, m := range cl.AccessModes {
		out.Spec.AccessModes = append(out.Spec.AccessModes, corev1.PersistentVolumeAccessMode(m))
	}
	out.Spec.StorageClassName = cl.StorageClassName
	if cl.VolumeMode != "" {
		out.Spec.VolumeMode = ptr(corev1.PersistentVolumeMode(cl.VolumeMode))
	}
	out.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(cl.Storage, resource.BinarySI)}
	if cl.Terminating {
		out.Finalizers = []string{"kubernetes.io/pvc-protection"}
	}
	return out
}

// WithClaimStatus adds a PersistentVolumeClaim's phase and node to its
// Kubernetes form. The node is shown as Kubernetes' scheduler shows the
// node a local volume was provisioned on: the selected-node annotation.
func WithClaimStatus(k8s any, st cluster.ClaimStatus) any {
	pvc, ok := k8s.(*corev1.PersistentVolumeClaim)
	if !ok {
		return k8s
	}
	pvc.Status.Phase = corev1.PersistentVolumeClaimPhase(st.Phase)
	if st.Phase == cluster.ClaimBound && pvc.Spec.Resources.Requests != nil {
		pvc.Status.AccessModes = pvc.Spec.AccessModes
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}
	}
	if st.Node != "" {
		a := make(map[string]string, len(pvc.Annotations)+1)
		for k, v := range pvc.Annotations {
			a[k] = v
		}
		a[SelectedNodeAnnotation] = st.Node
		pvc.Annotations = a
	}
	return pvc
}

// SelectedNodeAnnotation is Kubernetes' record of the node a claim's
// local volume lives on.
const SelectedNodeAnnotation = "volume.kubernetes.io/selected-node"
