package manifest

import (
	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Encoders of what pods take from ConfigMaps, Secrets and the downward
// API (configref.go decodes them).

func envSourceToK8s(s *cluster.EnvVarSource) *corev1.EnvVarSource {
	if s == nil {
		return nil
	}
	out := &corev1.EnvVarSource{
		FieldRef:         fieldRefToK8s(s.FieldRef),
		ResourceFieldRef: resourceRefToK8s(s.ResourceFieldRef),
	}
	if k := s.ConfigMapKeyRef; k != nil {
		out.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: k.Name}, Key: k.Key, Optional: optionalToK8s(k.Optional),
		}
	}
	if k := s.SecretKeyRef; k != nil {
		out.SecretKeyRef = &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: k.Name}, Key: k.Key, Optional: optionalToK8s(k.Optional),
		}
	}
	return out
}

// optionalToK8s writes optional only when true, as it was most likely
// written.
func optionalToK8s(b bool) *bool {
	if !b {
		return nil
	}
	return ptr(true)
}

func fieldRefToK8s(f *cluster.FieldRef) *corev1.ObjectFieldSelector {
	if f == nil {
		return nil
	}
	return &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: f.FieldPath}
}

func resourceRefToK8s(r *cluster.ResourceFieldRef) *corev1.ResourceFieldSelector {
	if r == nil {
		return nil
	}
	out := &corev1.ResourceFieldSelector{ContainerName: r.ContainerName, Resource: r.Resource}
	switch {
	case r.Divisor == 0:
	case r.Resource == "limits.cpu" || r.Resource == "requests.cpu":
		out.Divisor = *resource.NewMilliQuantity(r.Divisor, resource.DecimalSI)
	case r.Divisor%1024 == 0:
		out.Divisor = *resource.NewQuantity(r.Divisor, resource.BinarySI)
	default:
		out.Divisor = *resource.NewQuantity(r.Divisor, resource.DecimalSI)
	}
	return out
}

func envFromToK8s(e cluster.EnvFromSource) corev1.EnvFromSource {
	out := corev1.EnvFromSource{Prefix: e.Prefix}
	if r := e.ConfigMapRef; r != nil {
		out.ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Optional: optionalToK8s(r.Optional)}
	}
	if r := e.SecretRef; r != nil {
		out.SecretRef = &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Name}, Optional: optionalToK8s(r.Optional)}
	}
	return out
}

// configVolumeToK8s writes a configMap, secret, downwardAPI or projected
// volume source into kv.
func configVolumeToK8s(v cluster.Volume, kv *corev1.Volume) {
	switch {
	case v.ConfigMap != nil:
		kv.ConfigMap = &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: v.ConfigMap.Name},
			Items:                itemsToK8s(v.ConfigMap.Items), DefaultMode: ptr(v.ConfigMap.DefaultMode),
			Optional: optionalToK8s(v.ConfigMap.Optional),
		}
	case v.Secret != nil:
		kv.Secret = &corev1.SecretVolumeSource{
			SecretName: v.Secret.Name, Items: itemsToK8s(v.Secret.Items), DefaultMode: ptr(v.Secret.DefaultMode),
			Optional: optionalToK8s(v.Secret.Optional),
		}
	case v.DownwardAPI != nil:
		kv.DownwardAPI = &corev1.DownwardAPIVolumeSource{
			Items: downwardToK8s(v.DownwardAPI.Items), DefaultMode: ptr(v.DownwardAPI.DefaultMode),
		}
	case v.Projected != nil:
		p := &corev1.ProjectedVolumeSource{DefaultMode: ptr(v.Projected.DefaultMode)}
		for _, s := range v.Projected.Sources {
			var kp corev1.VolumeProjection
			if c := s.ConfigMap; c != nil {
				kp.ConfigMap = &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: c.Name}, Items: itemsToK8s(c.Items), Optional: optionalToK8s(c.Optional),
				}
			}
			if c := s.Secret; c != nil {
				kp.Secret = &corev1.SecretProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: c.Name}, Items: itemsToK8s(c.Items), Optional: optionalToK8s(c.Optional),
				}
			}
			if d := s.DownwardAPI; d != nil {
				kp.DownwardAPI = &corev1.DownwardAPIProjection{Items: downwardToK8s(d.Items)}
			}
			p.Sources = append(p.Sources, kp)
		}
		kv.Projected = p
	}
}

func itemsToK8s(items []cluster.KeyToPath) []corev1.KeyToPath {
	var out []corev1.KeyToPath
	for _, it := range items {
		out = append(out, corev1.KeyToPath{Key: it.Key, Path: it.Path, Mode: it.Mode})
	}
	return out
}

func downwardToK8s(items []cluster.DownwardAPIFile) []corev1.DownwardAPIVolumeFile {
	var out []corev1.DownwardAPIVolumeFile
	for _, it := range items {
		out = append(out, corev1.DownwardAPIVolumeFile{
			Path: it.Path, FieldRef: fieldRefToK8s(it.FieldRef), ResourceFieldRef: resourceRefToK8s(it.ResourceFieldRef), Mode: it.Mode,
		})
	}
	return out
}
