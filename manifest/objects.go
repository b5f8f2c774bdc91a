package manifest

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"shoal/cluster"
	"shoal/pullauth"
)

// Shapes of the kinds stored as cluster.Object. The API-only kinds are
// accepted whole: nothing acts on them, so no field of theirs can be
// silently ignored in a way that changes what runs; apply warns that they
// have no effect instead.
var (
	configMapShape = obj(map[string]*shape{
		"apiVersion": leaf, "kind": leaf, "metadata": objectMeta,
		"data": leaf, "binaryData": leaf, "immutable": leaf,
	})
	secretShape = obj(map[string]*shape{
		"apiVersion": leaf, "kind": leaf, "metadata": objectMeta,
		"data": leaf, "stringData": leaf, "type": leaf, "immutable": leaf,
	})
	namespaceShape = obj(map[string]*shape{
		"apiVersion": leaf, "kind": leaf, "metadata": objectMeta,
		// Kubernetes' own finalizer and phase; Shoal deletes a namespace's
		// objects with it, at once.
		"spec": ignored, "status": ignored,
	})
	apiOnlyShape = leaf
	budgetShape  = top(map[string]*shape{
		"minAvailable": leaf, "maxUnavailable": leaf, "selector": selectorShape,
		"unhealthyPodEvictionPolicy": leaf,
	})
)

// objectKinds are the kinds decoded into cluster.Object.
var objectKinds = map[string]kindInfo{
	string(cluster.KindConfigMap): {"v1", reflect.TypeFor[corev1.ConfigMap](), configMapShape,
		func(c *conv, v any) *Object { return c.configMap(v.(*corev1.ConfigMap)) }},
	string(cluster.KindSecret): {"v1", reflect.TypeFor[corev1.Secret](), secretShape,
		func(c *conv, v any) *Object { return c.secret(v.(*corev1.Secret)) }},
	string(cluster.KindNamespace): {"v1", reflect.TypeFor[corev1.Namespace](), namespaceShape,
		func(c *conv, v any) *Object { return c.namespace(v.(*corev1.Namespace)) }},
	string(cluster.KindPodDisruptionBudget): {"policy/v1", reflect.TypeFor[policyv1.PodDisruptionBudget](), budgetShape,
		func(c *conv, v any) *Object { return c.budget(v.(*policyv1.PodDisruptionBudget)) }},
	string(cluster.KindPersistentVolumeClaim): {"v1", reflect.TypeFor[corev1.PersistentVolumeClaim](), volumeClaimShape,
		func(c *conv, v any) *Object { return c.volumeClaim(v.(*corev1.PersistentVolumeClaim)) }},
	string(cluster.KindHorizontalPodAutoscaler): {"autoscaling/v2", reflect.TypeFor[autoscalingv2.HorizontalPodAutoscaler](), autoscalerShape,
		func(c *conv, v any) *Object { return c.autoscaler(v.(*autoscalingv2.HorizontalPodAutoscaler)) }},
	string(cluster.KindServiceAccount): {"v1", reflect.TypeFor[corev1.ServiceAccount](), apiOnlyShape,
		func(c *conv, v any) *Object {
			sa := v.(*corev1.ServiceAccount)
			return c.apiOnly(cluster.KindServiceAccount, &sa.ObjectMeta, sa)
		}},
	string(cluster.KindRole): {"rbac.authorization.k8s.io/v1", reflect.TypeFor[rbacv1.Role](), apiOnlyShape,
		func(c *conv, v any) *Object {
			r := v.(*rbacv1.Role)
			return c.apiOnly(cluster.KindRole, &r.ObjectMeta, r)
		}},
	string(cluster.KindRoleBinding): {"rbac.authorization.k8s.io/v1", reflect.TypeFor[rbacv1.RoleBinding](), apiOnlyShape,
		func(c *conv, v any) *Object {
			r := v.(*rbacv1.RoleBinding)
			return c.apiOnly(cluster.KindRoleBinding, &r.ObjectMeta, r)
		}},
	string(cluster.KindClusterRole): {"rbac.authorization.k8s.io/v1", reflect.TypeFor[rbacv1.ClusterRole](), apiOnlyShape,
		func(c *conv, v any) *Object {
			r := v.(*rbacv1.ClusterRole)
			return c.apiOnly(cluster.KindClusterRole, &r.ObjectMeta, r)
		}},
	string(cluster.KindClusterRoleBinding): {"rbac.authorization.k8s.io/v1", reflect.TypeFor[rbacv1.ClusterRoleBinding](), apiOnlyShape,
		func(c *conv, v any) *Object {
			r := v.(*rbacv1.ClusterRoleBinding)
			return c.apiOnly(cluster.KindClusterRoleBinding, &r.ObjectMeta, r)
		}},
}

// objectMetaOf converts the metadata every stored object has; cluster-wide
// kinds have no namespace (kubectl drops one given to them too).
func (c *conv) objectMetaOf(kind cluster.ObjectKind, m *metav1.ObjectMeta) *cluster.Object {
	check := validation.IsDNS1123Subdomain
	if kind == cluster.KindNamespace {
		check = validation.IsDNS1123Label
	}
	ns, name := c.meta(m, check)
	if !kind.Namespaced() {
		ns = ""
	}
	return &cluster.Object{Kind: kind, Namespace: ns, Name: name,
		Labels: mapOrNil(m.Labels), Annotations: mapOrNil(m.Annotations)}
}

func (c *conv) configMap(cm *corev1.ConfigMap) *Object {
	o := c.objectMetaOf(cluster.KindConfigMap, &cm.ObjectMeta)
	o.Data, o.BinaryData = mapOrNil(cm.Data), cm.BinaryData
	if len(o.BinaryData) == 0 {
		o.BinaryData = nil
	}
	o.Immutable = cm.Immutable != nil && *cm.Immutable
	for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
		c.check(field("data", k), k, validation.IsConfigMapKey(k))
		if _, dup := cm.BinaryData[k]; dup {
			c.errf(field("binaryData", k), "key %q is also in data", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cm.BinaryData)) {
		c.check(field("binaryData", k), k, validation.IsConfigMapKey(k))
	}
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o}
}

// secretRequired lists the keys each built-in Secret type must hold, as
// Kubernetes validates them.
var secretRequired = map[string][]string{
	cluster.SecretDockerConfigJSON: {corev1.DockerConfigJsonKey},
	cluster.SecretDockerConfig:     {corev1.DockerConfigKey},
	cluster.SecretTLS:              {corev1.TLSCertKey, corev1.TLSPrivateKeyKey},
	cluster.SecretSSHAuth:          {corev1.SSHAuthPrivateKey},
}

// dockerConfigKey is the key holding a registry-credentials Secret's JSON.
var dockerConfigKey = map[string]string{
	cluster.SecretDockerConfigJSON: corev1.DockerConfigJsonKey,
	cluster.SecretDockerConfig:     corev1.DockerConfigKey,
}

func (c *conv) secret(s *corev1.Secret) *Object {
	o := c.objectMetaOf(cluster.KindSecret, &s.ObjectMeta)
	o.Immutable = s.Immutable != nil && *s.Immutable
	o.SecretType = string(s.Type)
	if o.SecretType == "" {
		o.SecretType = cluster.SecretOpaque
	}
	// stringData is a write-only convenience: Kubernetes merges it into
	// data, its values winning.
	data := map[string][]byte{}
	for k, v := range s.Data {
		c.check(field("data", k), k, validation.IsConfigMapKey(k))
		data[k] = v
	}
	for k, v := range s.StringData {
		c.check(field("stringData", k), k, validation.IsConfigMapKey(k))
		data[k] = []byte(v)
	}
	c.secretType(o.SecretType, data)
	o.SecretKeys = slices.Sorted(maps.Keys(data))
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o, SecretData: data}
}

func (c *conv) secretType(t string, data map[string][]byte) {
	switch t {
	case cluster.SecretOpaque, cluster.SecretDockerConfigJSON, cluster.SecretDockerConfig,
		cluster.SecretTLS, cluster.SecretSSHAuth:
	case cluster.SecretBasicAuth:
		if data[corev1.BasicAuthUsernameKey] == nil && data[corev1.BasicAuthPasswordKey] == nil {
			c.errf("data", "a %s Secret needs %q or %q", t, corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case string(corev1.SecretTypeServiceAccountToken), string(corev1.SecretTypeBootstrapToken):
		c.errf("type", "%q is not supported by Shoal (it has no Kubernetes API to issue tokens for)", t)
		return
	default:
		// Types outside kubernetes.io/ are the user's own labels for
		// opaque data (helm.sh/release.v1, ...), as in Kubernetes.
		if strings.HasPrefix(t, "kubernetes.io/") {
			c.errf("type", "%q is not supported by Shoal (Opaque, %s, %s, %s, %s, %s)", t,
				cluster.SecretDockerConfigJSON, cluster.SecretDockerConfig, cluster.SecretTLS, cluster.SecretBasicAuth, cluster.SecretSSHAuth)
		}
		c.check("type", t, validation.IsQualifiedName(t))
		return
	}
	for _, k := range secretRequired[t] {
		if _, ok := data[k]; !ok {
			c.errf(field("data", k), "required for a %s Secret", t)
		}
	}
	if k := dockerConfigKey[t]; k != "" {
		if b, ok := data[k]; ok && !json.Valid(b) {
			c.errf(field("data", k), "not valid JSON")
		} else if _, _, err := pullauth.FromSecret(t, data, ""); err != nil {
			// Caught here rather than at the first pull that needs it.
			c.errf(field("data", k), "%v", err)
		}
	}
}

// budget converts a PodDisruptionBudget: exactly one of minAvailable and
// maxUnavailable, and a label selector.
func (c *conv) budget(b *policyv1.PodDisruptionBudget) *Object {
	o := c.objectMetaOf(cluster.KindPodDisruptionBudget, &b.ObjectMeta)
	spec := &cluster.DisruptionBudget{}
	if b.Spec.Selector != nil {
		spec.Selector = b.Spec.Selector.MatchLabels
	}
	if len(spec.Selector) == 0 {
		c.errf("spec.selector.matchLabels", "required (a budget without a selector protects no pod)")
	}
	c.labels("spec.selector.matchLabels", spec.Selector)
	switch {
	case b.Spec.MinAvailable != nil && b.Spec.MaxUnavailable != nil:
		c.errf("spec.maxUnavailable", "may not be set together with minAvailable")
	case b.Spec.MinAvailable != nil:
		spec.MinAvailable = c.budgetCount("spec.minAvailable", b.Spec.MinAvailable.String())
	case b.Spec.MaxUnavailable != nil:
		spec.MaxUnavailable = c.budgetCount("spec.maxUnavailable", b.Spec.MaxUnavailable.String())
	default:
		c.errf("spec.minAvailable", "one of minAvailable and maxUnavailable is required")
	}
	switch p := b.Spec.UnhealthyPodEvictionPolicy; {
	case p == nil || *p == policyv1.IfHealthyBudget:
	case *p == policyv1.AlwaysAllow:
		spec.AlwaysAllowUnhealthy = true
	default:
		c.errf("spec.unhealthyPodEvictionPolicy", "%q is not valid (IfHealthyBudget or AlwaysAllow)", *p)
	}
	o.Budget = spec
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o}
}

func (c *conv) budgetCount(p, v string) string {
	if _, _, err := cluster.ParseIntOrPercent(v); err != nil {
		c.errf(p, "%v", err)
	}
	return v
}

// WithBudgetStatus adds what a PodDisruptionBudget allows now to its
// Kubernetes form (ObjectToK8s cannot know: it depends on the pods).
func WithBudgetStatus(k8s any, st cluster.BudgetStatus) any {
	if b, ok := k8s.(*policyv1.PodDisruptionBudget); ok {
		b.Status = policyv1.PodDisruptionBudgetStatus{ExpectedPods: int32(st.ExpectedPods), CurrentHealthy: int32(st.CurrentHealthy),
			DesiredHealthy: int32(st.DesiredHealthy), DisruptionsAllowed: int32(st.DisruptionsAllowed)}
	}
	return k8s
}

func (c *conv) namespace(n *corev1.Namespace) *Object {
	o := c.objectMetaOf(cluster.KindNamespace, &n.ObjectMeta)
	return &Object{Name: o.Name, Generic: o}
}

// apiOnly keeps an object Shoal does not act on, as applied.
func (c *conv) apiOnly(kind cluster.ObjectKind, m *metav1.ObjectMeta, v any) *Object {
	o := c.objectMetaOf(kind, m)
	raw, err := json.Marshal(v)
	if err != nil {
		c.errf("", "encode: %v", err)
	}
	o.Raw = raw
	return &Object{Namespace: o.Namespace, Name: o.Name, Generic: o}
}

// Warning is what apply says of an object it stores but does not act on.
func (o *Object) Warning() string {
	if o.Generic == nil || !o.Generic.Kind.APIOnly() {
		return ""
	}
	return fmt.Sprintf("%s: %s %q is stored but has no effect: Shoal has no Kubernetes API, so accounts and RBAC rules grant nothing and no API token is mounted into pods", o.Where(), o.Kind, o.Name)
}

// ObjectToK8s returns a stored object as Kubernetes would show it. A
// Secret's data is given opened (nil when the caller may not read it:
// then only its type and keys' count are known and data is left out).
func ObjectToK8s(o *cluster.Object, secretData map[string][]byte) any {
	meta := metav1.ObjectMeta{
		Name: o.Name, Namespace: o.Namespace, UID: types.UID(o.UID),
		Labels: o.Labels, Annotations: o.Annotations,
		CreationTimestamp: metav1.NewTime(o.CreatedAt),
	}
	var immutable *bool
	if o.Immutable {
		immutable = ptr(true)
	}
	switch o.Kind {
	case cluster.KindConfigMap:
		return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: string(o.Kind)}, ObjectMeta: meta,
			Data: o.Data, BinaryData: o.BinaryData, Immutable: immutable}
	case cluster.KindSecret:
		return &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: string(o.Kind)}, ObjectMeta: meta,
			Type: corev1.SecretType(o.SecretType), Data: secretData, Immutable: immutable}
	case cluster.KindNamespace:
		return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: string(o.Kind)}, ObjectMeta: meta,
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	case cluster.KindPodDisruptionBudget:
		return budgetToK8s(o, meta)
	case cluster.KindPersistentVolumeClaim:
		return volumeClaimToK8s(o, meta)
	case cluster.KindHorizontalPodAutoscaler:
		return autoscalerToK8s(o, meta)
	}
	// An API-only object: what was applied, with the identity Shoal gave it.
	var m map[string]any
	if err := json.Unmarshal(o.Raw, &m); err != nil || m == nil {
		m = map[string]any{}
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	md["uid"], md["creationTimestamp"] = o.UID, meta.CreationTimestamp
	if o.Namespace != "" {
		md["namespace"] = o.Namespace
	}
	m["metadata"] = md
	return m
}

func budgetToK8s(o *cluster.Object, meta metav1.ObjectMeta) *policyv1.PodDisruptionBudget {
	out := &policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: string(o.Kind)}, ObjectMeta: meta}
	b := o.Budget
	if b == nil {
		return out
	}
	out.Spec.Selector = &metav1.LabelSelector{MatchLabels: b.Selector}
	count := func(v string) *intstr.IntOrString {
		if v == "" {
			return nil
		}
		x := intstr.Parse(v)
		return &x
	}
	out.Spec.MinAvailable, out.Spec.MaxUnavailable = count(b.MinAvailable), count(b.MaxUnavailable)
	policy := policyv1.IfHealthyBudget
	if b.AlwaysAllowUnhealthy {
		policy = policyv1.AlwaysAllow
	}
	out.Spec.UnhealthyPodEvictionPolicy = &policy
	return out
}
