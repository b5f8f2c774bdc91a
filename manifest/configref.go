package manifest

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// What a pod takes from ConfigMaps, Secrets and itself: env valueFrom and
// envFrom, and configMap, secret, downwardAPI and projected volumes,
// checked as Kubernetes' API server checks them.

// Field paths the downward API offers: to env vars, and to volume files
// (metadata only: a file cannot follow the pod's status). Labels and
// annotations may also be selected one key at a time,
// metadata.labels['app'].
var (
	envFieldPaths = []string{
		"metadata.name", "metadata.namespace", "metadata.uid",
		"spec.nodeName", "spec.serviceAccountName",
		"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
	}
	volumeFieldPaths = []string{
		"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
	}
	resourceFields = []string{
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage",
	}
)

// Divisors Kubernetes accepts, per resource kind.
var (
	cpuDivisors   = []string{"1m", "1"}
	bytesDivisors = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
)

// envVar converts one env var: a literal value, or exactly one source.
func (c *conv) envVar(p string, e corev1.EnvVar) cluster.EnvVar {
	out := cluster.EnvVar{Name: e.Name, Value: e.Value}
	if e.Name == "" {
		c.errf(p+".name", "required")
	} else {
		c.check(p+".name", e.Name, validation.IsEnvVarName(e.Name))
	}
	vf := e.ValueFrom
	if vf == nil {
		return out
	}
	vp := p + ".valueFrom"
	if e.Value != "" {
		c.errf(vp, "may not be set when value is not empty")
	}
	src := &cluster.EnvVarSource{}
	n := 0
	if f := vf.FieldRef; f != nil {
		n++
		src.FieldRef = c.fieldRef(vp+".fieldRef", f, envFieldPaths)
	}
	if r := vf.ResourceFieldRef; r != nil {
		n++
		src.ResourceFieldRef = c.resourceFieldRef(vp+".resourceFieldRef", r, false)
	}
	if k := vf.ConfigMapKeyRef; k != nil {
		n++
		src.ConfigMapKeyRef = c.keyRef(vp+".configMapKeyRef", k.Name, k.Key, k.Optional)
	}
	if k := vf.SecretKeyRef; k != nil {
		n++
		src.SecretKeyRef = c.keyRef(vp+".secretKeyRef", k.Name, k.Key, k.Optional)
	}
	if n != 1 {
		c.errf(vp, "needs exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef")
	}
	out.ValueFrom = src
	return out
}

// fieldRef checks a downward API field path against those allowed here.
func (c *conv) fieldRef(p string, f *corev1.ObjectFieldSelector, allowed []string) *cluster.FieldRef {
	if f.APIVersion != "" && f.APIVersion != "v1" {
		c.errf(p+".apiVersion", "%q is not supported (v1)", f.APIVersion)
	}
	fp := p + ".fieldPath"
	switch {
	case f.FieldPath == "":
		c.errf(fp, "required")
	case slices.Contains(allowed, f.FieldPath):
	default:
		if key, ok := subscript(f.FieldPath); ok {
			c.check(fp, key, validation.IsQualifiedName(strings.ToLower(key)))
			break
		}
		c.errf(fp, "%q is not supported (%s, metadata.labels['KEY'], metadata.annotations['KEY'])", f.FieldPath, strings.Join(allowed, ", "))
	}
	return &cluster.FieldRef{FieldPath: f.FieldPath}
}

// subscript returns the key of metadata.labels['key'] or
// metadata.annotations['key'].
func subscript(fieldPath string) (string, bool) {
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if rest, ok := strings.CutPrefix(fieldPath, prefix); ok {
			if key, ok := strings.CutSuffix(rest, "']"); ok && key != "" {
				return key, true
			}
		}
	}
	return "", false
}

// resourceFieldRef checks a resource selector; a volume file must name its
// container (an env var defaults to its own). That the container exists
// is checked once every container is known (resourceRefContainers).
func (c *conv) resourceFieldRef(p string, r *corev1.ResourceFieldSelector, volume bool) *cluster.ResourceFieldRef {
	out := &cluster.ResourceFieldRef{ContainerName: r.ContainerName, Resource: r.Resource}
	if volume && r.ContainerName == "" {
		c.errf(p+".containerName", "required in a volume")
	}
	if !slices.Contains(resourceFields, r.Resource) {
		if r.Resource == "" {
			c.errf(p+".resource", "required")
		} else {
			c.errf(p+".resource", "%q is not supported (%s)", r.Resource, strings.Join(resourceFields, ", "))
		}
		return out
	}
	if r.Divisor.IsZero() {
		return out
	}
	allowed := bytesDivisors
	if strings.HasSuffix(r.Resource, ".cpu") {
		allowed = cpuDivisors
	}
	if !slices.ContainsFunc(allowed, func(d string) bool { q := resource.MustParse(d); return q.Cmp(r.Divisor) == 0 }) {
		c.errf(p+".divisor", "%q is not a valid divisor for %s (%s)", r.Divisor.String(), r.Resource, strings.Join(allowed, ", "))
		return out
	}
	if strings.HasSuffix(r.Resource, ".cpu") {
		out.Divisor = r.Divisor.MilliValue()
	} else {
		out.Divisor = r.Divisor.Value()
	}
	return out
}

// keyRef checks a reference to one key of a ConfigMap or Secret.
func (c *conv) keyRef(p, name, key string, optional *bool) *cluster.KeyRef {
	c.objectName(p+".name", name)
	c.configKey(p+".key", key)
	return &cluster.KeyRef{Name: name, Key: key, Optional: isTrue(optional)}
}

func (c *conv) objectName(p, name string) {
	if name == "" {
		c.errf(p, "required")
		return
	}
	c.check(p, name, validation.IsDNS1123Subdomain(name))
}

func (c *conv) configKey(p, key string) {
	if key == "" {
		c.errf(p, "required")
		return
	}
	c.check(p, key, validation.IsConfigMapKey(key))
}

func isTrue(b *bool) bool { return b != nil && *b }

// envFrom converts a container's envFrom list.
func (c *conv) envFrom(p string, in []corev1.EnvFromSource) []cluster.EnvFromSource {
	var out []cluster.EnvFromSource
	for i, e := range in {
		ep := index(p, i)
		src := cluster.EnvFromSource{Prefix: e.Prefix}
		if e.Prefix != "" {
			c.check(ep+".prefix", e.Prefix, validation.IsEnvVarName(e.Prefix))
		}
		switch {
		case (e.ConfigMapRef == nil) == (e.SecretRef == nil):
			c.errf(ep, "needs exactly one of configMapRef and secretRef")
		case e.ConfigMapRef != nil:
			c.objectName(ep+".configMapRef.name", e.ConfigMapRef.Name)
			src.ConfigMapRef = &cluster.ObjectRef{Name: e.ConfigMapRef.Name, Optional: isTrue(e.ConfigMapRef.Optional)}
		default:
			c.objectName(ep+".secretRef.name", e.SecretRef.Name)
			src.SecretRef = &cluster.ObjectRef{Name: e.SecretRef.Name, Optional: isTrue(e.SecretRef.Optional)}
		}
		out = append(out, src)
	}
	return out
}

// configVolume converts a configMap, secret, downwardAPI or projected
// volume source (the caller made sure there is exactly one source).
func (c *conv) configVolume(v corev1.Volume, p string, out *cluster.Volume) {
	paths := map[string]bool{}
	switch {
	case v.ConfigMap != nil:
		vp := p + ".configMap"
		out.ConfigMap = &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: *c.configMapProjection(vp, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, paths),
			DefaultMode:         c.defaultMode(vp, v.ConfigMap.DefaultMode),
		}
	case v.Secret != nil:
		vp := p + ".secret"
		c.objectName(vp+".secretName", v.Secret.SecretName)
		out.Secret = &cluster.SecretVolumeSource{
			SecretProjection: cluster.SecretProjection{Name: v.Secret.SecretName, Items: c.items(vp+".items", v.Secret.Items, paths),
				Optional: isTrue(v.Secret.Optional)},
			DefaultMode: c.defaultMode(vp, v.Secret.DefaultMode),
		}
	case v.DownwardAPI != nil:
		vp := p + ".downwardAPI"
		out.DownwardAPI = &cluster.DownwardAPIVolumeSource{
			Items:       c.downwardItems(vp+".items", v.DownwardAPI.Items, paths),
			DefaultMode: c.defaultMode(vp, v.DownwardAPI.DefaultMode),
		}
	case v.Projected != nil:
		out.Projected = c.projected(p+".projected", v.Projected, paths)
	}
}

func (c *conv) configMapProjection(p, name string, items []corev1.KeyToPath, optional *bool, paths map[string]bool) *cluster.ConfigMapProjection {
	c.objectName(p+".name", name)
	return &cluster.ConfigMapProjection{Name: name, Items: c.items(p+".items", items, paths), Optional: isTrue(optional)}
}

// projected converts a projected volume. Paths must be unique across its
// sources, as Kubernetes requires.
func (c *conv) projected(p string, pv *corev1.ProjectedVolumeSource, paths map[string]bool) *cluster.ProjectedVolumeSource {
	out := &cluster.ProjectedVolumeSource{DefaultMode: c.defaultMode(p, pv.DefaultMode)}
	if len(pv.Sources) == 0 {
		c.errf(p+".sources", "required")
	}
	for i, s := range pv.Sources {
		sp := index(p+".sources", i)
		var src cluster.VolumeProjection
		n := 0
		if s.ConfigMap != nil {
			n++
			src.ConfigMap = c.configMapProjection(sp+".configMap", s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, paths)
		}
		if s.Secret != nil {
			n++
			c.objectName(sp+".secret.name", s.Secret.Name)
			src.Secret = &cluster.SecretProjection{Name: s.Secret.Name, Items: c.items(sp+".secret.items", s.Secret.Items, paths),
				Optional: isTrue(s.Secret.Optional)}
		}
		if s.DownwardAPI != nil {
			n++
			src.DownwardAPI = &cluster.DownwardAPIProjection{Items: c.downwardItems(sp+".downwardAPI.items", s.DownwardAPI.Items, paths)}
		}
		if n != 1 {
			c.errf(sp, "needs exactly one of configMap, secret and downwardAPI")
		}
		out.Sources = append(out.Sources, src)
	}
	return out
}

func (c *conv) items(p string, items []corev1.KeyToPath, paths map[string]bool) []cluster.KeyToPath {
	var out []cluster.KeyToPath
	for i, it := range items {
		ip := index(p, i)
		c.configKey(ip+".key", it.Key)
		c.volumePath(ip+".path", it.Path, paths)
		out = append(out, cluster.KeyToPath{Key: it.Key, Path: it.Path, Mode: c.mode(ip+".mode", it.Mode)})
	}
	return out
}

func (c *conv) downwardItems(p string, items []corev1.DownwardAPIVolumeFile, paths map[string]bool) []cluster.DownwardAPIFile {
	var out []cluster.DownwardAPIFile
	for i, it := range items {
		ip := index(p, i)
		c.volumePath(ip+".path", it.Path, paths)
		f := cluster.DownwardAPIFile{Path: it.Path, Mode: c.mode(ip+".mode", it.Mode)}
		switch {
		case (it.FieldRef == nil) == (it.ResourceFieldRef == nil):
			c.errf(ip, "needs exactly one of fieldRef and resourceFieldRef")
		case it.FieldRef != nil:
			f.FieldRef = c.fieldRef(ip+".fieldRef", it.FieldRef, volumeFieldPaths)
		default:
			f.ResourceFieldRef = c.resourceFieldRef(ip+".resourceFieldRef", it.ResourceFieldRef, true)
		}
		out = append(out, f)
	}
	return out
}

// volumePath checks a file's path in a volume as Kubernetes does:
// relative, no '..' component, not starting with '..' (the volume's own
// ..data and timestamped directories), and unique in the volume.
func (c *conv) volumePath(p, file string, seen map[string]bool) {
	switch {
	case file == "":
		c.errf(p, "required")
	case path.IsAbs(file):
		c.errf(p, "%q must be a relative path", file)
	case slices.Contains(strings.Split(file, "/"), ".."):
		c.errf(p, "%q must not contain '..'", file)
	case strings.HasPrefix(file, ".."):
		c.errf(p, "%q must not start with '..'", file)
	case path.Clean(file) == ".":
		c.errf(p, "%q names no file", file)
	case seen[path.Clean(file)]:
		c.errf(p, "%q is used twice in this volume", file)
	}
	seen[path.Clean(file)] = true
}

// defaultMode is a volume's file mode, Kubernetes' 0644 when unset.
func (c *conv) defaultMode(p string, m *int32) int32 {
	if m == nil {
		return cluster.DefaultVolumeMode
	}
	return *c.mode(p+".defaultMode", m)
}

func (c *conv) mode(p string, m *int32) *int32 {
	if m == nil {
		return nil
	}
	if *m < 0 || *m > 0o777 {
		c.errf(p, "%d must be between 0 and 0777 (octal) or 511 (decimal)", *m)
	}
	v := *m
	return &v
}

// resourceRefContainers checks that every resourceFieldRef's
// containerName names a container of the pod.
func (c *conv) resourceRefContainers(s *cluster.PodSpec, p string) {
	names := map[string]bool{}
	for _, k := range append(slices.Clone(s.InitContainers), s.Containers...) {
		names[k.Name] = true
	}
	check := func(fp string, r *cluster.ResourceFieldRef) {
		if r != nil && r.ContainerName != "" && !names[r.ContainerName] {
			c.errf(fp+".containerName", "%q is not a container of this pod", r.ContainerName)
		}
	}
	for _, list := range []struct {
		name string
		cs   []cluster.Container
	}{{"initContainers", s.InitContainers}, {"containers", s.Containers}} {
		for i, k := range list.cs {
			for j, e := range k.Env {
				if e.ValueFrom != nil {
					check(fmt.Sprintf("%s.%s[%d].env[%d].valueFrom.resourceFieldRef", p, list.name, i, j), e.ValueFrom.ResourceFieldRef)
				}
			}
		}
	}
	for i, v := range s.Volumes {
		vp := index(p+".volumes", i)
		if v.DownwardAPI != nil {
			for j, it := range v.DownwardAPI.Items {
				check(index(vp+".downwardAPI.items", j)+".resourceFieldRef", it.ResourceFieldRef)
			}
		}
		if v.Projected != nil {
			for j, src := range v.Projected.Sources {
				if src.DownwardAPI == nil {
					continue
				}
				for k, it := range src.DownwardAPI.Items {
					check(index(index(vp+".projected.sources", j)+".downwardAPI.items", k)+".resourceFieldRef", it.ResourceFieldRef)
				}
			}
		}
	}
}
