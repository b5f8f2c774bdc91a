package manifest

import (
	"fmt"
	"net/netip"
	"strings"

	"shoal/cluster"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// conv converts one decoded Kubernetes object, collecting every problem
// rather than stopping at the first, so a user fixes a manifest in one go.
type conv struct {
	errs []fieldError
}

func (c *conv) errf(p, format string, args ...any) {
	c.errs = append(c.errs, fieldError{p, fmt.Sprintf(format, args...)})
}

// check records the messages of a k8s.io validation function, if any.
func (c *conv) check(p, value string, msgs []string) {
	if len(msgs) > 0 {
		c.errf(p, "%q is invalid: %s", value, strings.Join(msgs, "; "))
	}
}

// meta converts metadata; nameCheck is the DNS rule the kind's names follow.
func (c *conv) meta(m *metav1.ObjectMeta, nameCheck func(string) []string) (ns, name string) {
	name, ns = m.Name, m.Namespace
	if name == "" {
		c.errf("metadata.name", "required")
	} else {
		c.check("metadata.name", name, nameCheck(name))
	}
	if ns == "" {
		ns = cluster.DefaultNamespace
	} else {
		c.check("metadata.namespace", ns, validation.IsDNS1123Label(ns))
	}
	c.labels("metadata.labels", m.Labels)
	c.annotations("metadata.annotations", m.Annotations)
	return ns, name
}

// maxAnnotationBytes is Kubernetes' limit on one object's annotations,
// keys and values together.
const maxAnnotationBytes = 256 << 10

// annotations validates annotation keys and their total size.
func (c *conv) annotations(p string, a map[string]string) {
	total := 0
	for _, k := range sortedStrings(a) {
		c.check(field(p, k), k, content.IsLabelKey(k))
		total += len(k) + len(a[k])
	}
	if total > maxAnnotationBytes {
		c.errf(p, "%d bytes: annotations may hold at most %d bytes (256 KiB)", total, maxAnnotationBytes)
	}
}

// labels validates label (or selector) keys and values.
func (c *conv) labels(p string, l map[string]string) {
	for _, k := range sortedStrings(l) {
		c.check(field(p, k), k, content.IsLabelKey(k))
		c.check(field(p, k), l[k], content.IsLabelValue(l[k]))
	}
}

// workload converts what Deployments and StatefulSets share.
func (c *conv) workload(kind cluster.WorkloadKind, m *metav1.ObjectMeta, nameCheck func(string) []string,
	replicas, historyLimit *int32, sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec, claims []cluster.ClaimSource) *cluster.Workload {
	ns, name := c.meta(m, nameCheck)
	w := &cluster.Workload{
		Kind: kind, Namespace: ns, Name: name,
		Labels: mapOrNil(m.Labels), Annotations: mapOrNil(m.Annotations),
		Replicas: 1, Generation: 1,
	}
	if replicas != nil {
		w.Replicas = *replicas
		if w.Replicas < 0 {
			c.errf("spec.replicas", "%d must be 0 or more", w.Replicas)
		}
	}
	// Written out like Kubernetes' default, so that `get -o yaml` says it.
	limit := int32(cluster.DefaultRevisionHistoryLimit)
	if historyLimit != nil {
		limit = *historyLimit
		if limit < 0 {
			c.errf("spec.revisionHistoryLimit", "%d must be 0 or more", limit)
		}
	}
	w.RevisionHistoryLimit = &limit
	if sel == nil || len(sel.MatchLabels) == 0 {
		c.errf("spec.selector.matchLabels", "required")
	} else {
		w.Selector = sel.MatchLabels
		c.labels("spec.selector.matchLabels", sel.MatchLabels)
	}
	w.TemplateLabels = mapOrNil(tmpl.Labels)
	c.labels("spec.template.metadata.labels", tmpl.Labels)
	w.TemplateAnnotations = mapOrNil(tmpl.Annotations)
	c.annotations("spec.template.metadata.annotations", tmpl.Annotations)
	if len(w.Selector) > 0 && !cluster.MatchesSelector(w.Selector, w.TemplateLabels) {
		c.errf("spec.template.metadata.labels", "do not match spec.selector.matchLabels %v: the workload would never find its pods", w.Selector)
	}
	w.Template = c.podSpec(&tmpl.Spec, "spec.template.spec", claims, true)
	return w
}

func (c *conv) deployment(d *appsv1.Deployment) *Object {
	w := c.workload(cluster.KindDeployment, &d.ObjectMeta, validation.IsDNS1123Subdomain,
		d.Spec.Replicas, d.Spec.RevisionHistoryLimit, d.Spec.Selector, &d.Spec.Template, nil)
	w.MinReadySeconds = c.minReadySeconds(d.Spec.MinReadySeconds)
	s := d.Spec.Strategy
	switch s.Type {
	case "", appsv1.RollingUpdateDeploymentStrategyType:
		w.Strategy = string(appsv1.RollingUpdateDeploymentStrategyType)
		var surge, unavailable *intstr.IntOrString
		if ru := s.RollingUpdate; ru != nil {
			surge, unavailable = ru.MaxSurge, ru.MaxUnavailable
		}
		w.MaxSurge, w.MaxUnavailable = c.rollingUpdate("spec.strategy.rollingUpdate", surge, unavailable, "25%", "25%")
	case appsv1.RecreateDeploymentStrategyType:
		w.Strategy = string(s.Type)
		if s.RollingUpdate != nil {
			c.errf("spec.strategy.rollingUpdate", "may not be set when spec.strategy.type is Recreate")
		}
	default:
		c.errf("spec.strategy.type", "%q is not supported (RollingUpdate or Recreate)", s.Type)
	}
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: w.Namespace, Name: w.Name, Workload: w}
}

// rollingUpdate validates a rolling update's maxSurge and maxUnavailable
// at p (Deployments' and DaemonSets' share the rules), the defaults given
// where unset.
func (c *conv) rollingUpdate(p string, surge, unavailable *intstr.IntOrString, defSurge, defUnavailable string) (string, string) {
	s, u := defSurge, defUnavailable
	if surge != nil {
		s = c.intOrPercent(p+".maxSurge", *surge)
	}
	if unavailable != nil {
		u = c.intOrPercent(p+".maxUnavailable", *unavailable)
	}
	if isZeroAmount(s) && isZeroAmount(u) {
		c.errf(p, "maxSurge and maxUnavailable may not both be 0: the rollout could never progress")
	}
	return s, u
}

// intOrPercent validates maxSurge/maxUnavailable and writes them the way
// Kubernetes does: "1" or "25%".
func (c *conv) intOrPercent(p string, v intstr.IntOrString) string {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			c.errf(p, "%d must be 0 or more", v.IntVal)
		}
		return fmt.Sprint(v.IntVal)
	}
	if msgs := validation.IsValidPercent(v.StrVal); len(msgs) > 0 {
		c.errf(p, "%q must be an integer or a percentage like \"25%%\"", v.StrVal)
	} else if n := strings.TrimSuffix(v.StrVal, "%"); len(n) > 3 || (len(n) == 3 && n > "100") {
		c.errf(p, "%q must be at most 100%%", v.StrVal)
	}
	return v.StrVal
}

func isZeroAmount(s string) bool { return s == "0" || s == "0%" }

func (c *conv) statefulSet(s *appsv1.StatefulSet) *Object {
	claims := c.claimTemplates(s.Spec.VolumeClaimTemplates)
	// A StatefulSet's pods are named <name>-<ordinal> and use that as their
	// hostname, so the name must be a DNS label, not just a subdomain.
	w := c.workload(cluster.KindStatefulSet, &s.ObjectMeta, validation.IsDNS1123Label,
		s.Spec.Replicas, s.Spec.RevisionHistoryLimit, s.Spec.Selector, &s.Spec.Template, claims)
	w.VolumeClaimTemplates = claims
	w.MinReadySeconds = c.minReadySeconds(s.Spec.MinReadySeconds)
	w.ServiceName = s.Spec.ServiceName
	if w.ServiceName != "" {
		c.check("spec.serviceName", w.ServiceName, validation.IsDNS1035Label(w.ServiceName))
	}
	switch p := s.Spec.PodManagementPolicy; p {
	case "", appsv1.OrderedReadyPodManagement:
		w.PodManagementPolicy = string(appsv1.OrderedReadyPodManagement)
	case appsv1.ParallelPodManagement:
		w.PodManagementPolicy = string(p)
	default:
		c.errf("spec.podManagementPolicy", "%q is not supported (OrderedReady or Parallel)", p)
	}
	switch t := s.Spec.UpdateStrategy.Type; t {
	case "", appsv1.RollingUpdateStatefulSetStrategyType:
		w.Strategy = string(appsv1.RollingUpdateStatefulSetStrategyType)
	default:
		c.errf("spec.updateStrategy.type", "%q is not supported by Shoal (RollingUpdate only)", t)
	}
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: w.Namespace, Name: w.Name, Workload: w}
}

func (c *conv) daemonSet(d *appsv1.DaemonSet) *Object {
	w := c.workload(cluster.KindDaemonSet, &d.ObjectMeta, validation.IsDNS1123Subdomain,
		nil, d.Spec.RevisionHistoryLimit, d.Spec.Selector, &d.Spec.Template, nil)
	// Replicas means nothing to a DaemonSet: its nodes decide.
	w.Replicas = 0
	w.MinReadySeconds = c.minReadySeconds(d.Spec.MinReadySeconds)
	s := d.Spec.UpdateStrategy
	switch s.Type {
	case "", appsv1.RollingUpdateDaemonSetStrategyType:
		w.Strategy = string(appsv1.RollingUpdateDaemonSetStrategyType)
		var surge, unavailable *intstr.IntOrString
		if ru := s.RollingUpdate; ru != nil {
			surge, unavailable = ru.MaxSurge, ru.MaxUnavailable
		}
		w.MaxSurge, w.MaxUnavailable = c.rollingUpdate("spec.updateStrategy.rollingUpdate", surge, unavailable, "0", "1")
	case appsv1.OnDeleteDaemonSetStrategyType:
		w.Strategy = string(s.Type)
		if s.RollingUpdate != nil {
			c.errf("spec.updateStrategy.rollingUpdate", "may not be set when spec.updateStrategy.type is OnDelete")
		}
	default:
		c.errf("spec.updateStrategy.type", "%q is not supported (RollingUpdate or OnDelete)", s.Type)
	}
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: w.Namespace, Name: w.Name, Workload: w}
}

// replicaSet converts a ReplicaSet: replicas of a template, never rolled
// out, so no revisions are kept.
func (c *conv) replicaSet(r *appsv1.ReplicaSet) *Object {
	w := c.workload(cluster.KindReplicaSet, &r.ObjectMeta, validation.IsDNS1123Subdomain,
		r.Spec.Replicas, nil, r.Spec.Selector, &r.Spec.Template, nil)
	w.MinReadySeconds = c.minReadySeconds(r.Spec.MinReadySeconds)
	none := int32(0)
	w.RevisionHistoryLimit = &none
	w.TemplateHash = w.TemplateID()
	return &Object{Namespace: w.Namespace, Name: w.Name, Workload: w}
}

// minReadySeconds checks spec.minReadySeconds: how long a pod must have
// been ready to count as available.
func (c *conv) minReadySeconds(v int32) int32 {
	if v < 0 {
		c.errf("spec.minReadySeconds", "%d must be 0 or more", v)
		return 0
	}
	return v
}

// claimTemplates converts volumeClaimTemplates. Shoal's claims are
// directories on the node that follow the pod, so only single-node access
// modes make sense and the storage class is accepted but has no effect.
func (c *conv) claimTemplates(pvcs []corev1.PersistentVolumeClaim) []cluster.ClaimSource {
	var out []cluster.ClaimSource
	seen := map[string]bool{}
	for i, pvc := range pvcs {
		p := index("spec.volumeClaimTemplates", i)
		cs := cluster.ClaimSource{ClaimName: pvc.Name, Labels: mapOrNil(pvc.Labels), Annotations: mapOrNil(pvc.Annotations)}
		if sc := pvc.Spec.StorageClassName; sc != nil {
			cs.StorageClassName = *sc
		}
		c.labels(p+".metadata.labels", pvc.Labels)
		if pvc.Name == "" {
			c.errf(p+".metadata.name", "required")
		} else {
			c.check(p+".metadata.name", pvc.Name, validation.IsDNS1123Label(pvc.Name))
		}
		if seen[pvc.Name] {
			c.errf(p+".metadata.name", "%q is defined twice", pvc.Name)
		}
		seen[pvc.Name] = true
		for j, m := range pvc.Spec.AccessModes {
			if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
				c.errf(index(p+".spec.accessModes", j), "%q is not supported by Shoal (ReadWriteOnce or ReadWriteOncePod: a claim is a directory on one node)", m)
			}
		}
		if vm := pvc.Spec.VolumeMode; vm != nil && *vm != corev1.PersistentVolumeFilesystem {
			c.errf(p+".spec.volumeMode", "%q is not supported by Shoal (Filesystem only)", *vm)
		}
		rp := p + ".spec.resources.requests"
		for name, q := range pvc.Spec.Resources.Requests {
			if name != corev1.ResourceStorage {
				c.errf(field(rp, string(name)), "resource %q is not supported for claims (storage only)", name)
				continue
			}
			n, err := bytesOf(q)
			if err != nil {
				c.errf(field(rp, "storage"), "%v", err)
			}
			cs.Storage = n
		}
		out = append(out, cs)
	}
	return out
}

func (c *conv) pod(p *corev1.Pod) *Object {
	ns, name := c.meta(&p.ObjectMeta, validation.IsDNS1123Subdomain)
	c.appArmorAnnotations(p.Annotations)
	pod := &cluster.Pod{
		Namespace: ns, Name: name,
		Labels: mapOrNil(p.Labels), Annotations: mapOrNil(p.Annotations),
		Ordinal: -1,
		Spec:    c.podSpec(&p.Spec, "spec", nil, false),
	}
	return &Object{Namespace: ns, Name: name, Pod: pod}
}

func (c *conv) service(s *corev1.Service) *Object {
	ns, name := c.meta(&s.ObjectMeta, validation.IsDNS1035Label)
	svc := &cluster.Service{
		Namespace: ns, Name: name, Labels: mapOrNil(s.Labels), Annotations: mapOrNil(s.Annotations),
		Selector: s.Spec.Selector, ClusterIP: s.Spec.ClusterIP,
		Type: string(corev1.ServiceTypeClusterIP),
	}
	// A Service without a selector would need hand-made Endpoints, which
	// Shoal does not have: it would never resolve to anything.
	if len(s.Spec.Selector) == 0 {
		c.errf("spec.selector", "required (Shoal has no Endpoints objects: a Service finds its pods by selector)")
	}
	c.labels("spec.selector", s.Spec.Selector)
	svc.ClusterIP = c.clusterIP(&s.Spec)
	switch t := s.Spec.Type; t {
	case "", corev1.ServiceTypeClusterIP:
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		svc.Type = string(t)
	default:
		c.errf("spec.type", "%q is not supported by Shoal (ClusterIP, NodePort or LoadBalancer)", t)
	}
	if svc.Headless() && svc.PublishesNodePorts() {
		c.errf("spec.clusterIP", "may not be None when spec.type is %s: node ports lead to the virtual IP's pods", svc.Type)
	}
	c.serviceTraffic(&s.Spec, svc)
	svc.PublishNotReadyAddresses = s.Spec.PublishNotReadyAddresses
	svc.IPFamilyPolicy = c.ipFamilies(&s.Spec)
	for _, f := range s.Spec.IPFamilies {
		svc.IPFamilies = append(svc.IPFamilies, string(f))
	}
	// A headless Service may have no ports: its names answer with the
	// pods' addresses (Kubernetes allows it, peer discovery uses it).
	if len(s.Spec.Ports) == 0 && s.Spec.ClusterIP != corev1.ClusterIPNone {
		c.errf("spec.ports", "required (unless clusterIP is None)")
	}
	names := map[string]bool{}
	for i, sp := range s.Spec.Ports {
		p := index("spec.ports", i)
		port := cluster.ServicePort{Name: sp.Name, Port: sp.Port, NodePort: sp.NodePort,
			Protocol: c.protocol(p+".protocol", sp.Protocol)}
		if ap := sp.AppProtocol; ap != nil {
			port.AppProtocol = *ap
			c.check(p+".appProtocol", *ap, validation.IsQualifiedName(*ap))
		}
		// Kubernetes needs names to tell several ports apart (SRV records).
		if sp.Name == "" && len(s.Spec.Ports) > 1 {
			c.errf(p+".name", "required when a Service has more than one port")
		} else if sp.Name != "" {
			c.check(p+".name", sp.Name, validation.IsDNS1123Label(sp.Name))
			if names[sp.Name] {
				c.errf(p+".name", "%q is used by two ports", sp.Name)
			}
			names[sp.Name] = true
		}
		c.port(p+".port", sp.Port, true)
		switch {
		case sp.TargetPort.Type == intstr.String:
			port.TargetPortName = sp.TargetPort.StrVal
			c.check(p+".targetPort", sp.TargetPort.StrVal, validation.IsValidPortName(sp.TargetPort.StrVal))
		case sp.TargetPort.IntVal != 0:
			port.TargetPort = sp.TargetPort.IntVal
			c.port(p+".targetPort", sp.TargetPort.IntVal, true)
		default:
			port.TargetPort = sp.Port // Kubernetes' default, written out like the others
		}
		if sp.NodePort != 0 {
			if !svc.PublishesNodePorts() {
				c.errf(p+".nodePort", "may only be set when spec.type is NodePort or LoadBalancer")
			} else if sp.NodePort < cluster.NodePortMin || sp.NodePort > cluster.NodePortMax {
				c.errf(p+".nodePort", "%d is outside the node port range (%d-%d)", sp.NodePort, cluster.NodePortMin, cluster.NodePortMax)
			}
		}
		svc.Ports = append(svc.Ports, port)
	}
	return &Object{Namespace: ns, Name: name, Service: svc}
}

// clusterIP reads spec.clusterIP and spec.clusterIPs: None (headless),
// an IPv4 address (the FSM checks it is a free one of the service CIDR)
// or "" for one allocated at apply. clusterIPs, Kubernetes' dual-stack
// list, may only repeat clusterIP: the pod network is IPv4 single-stack.
func (c *conv) clusterIP(s *corev1.ServiceSpec) string {
	ip := s.ClusterIP
	if ip == "" && len(s.ClusterIPs) > 0 {
		ip = s.ClusterIPs[0]
	}
	if len(s.ClusterIPs) > 1 || len(s.ClusterIPs) == 1 && s.ClusterIPs[0] != ip {
		c.errf("spec.clusterIPs", "%q: must be [spec.clusterIP] (Shoal's Services are IPv4 single-stack)", s.ClusterIPs)
	}
	if ip == "" || ip == corev1.ClusterIPNone {
		return ip
	}
	if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
		c.errf("spec.clusterIP", "%q is not valid (None, or an IPv4 address of the cluster's service CIDR)", ip)
		return ""
	}
	return ip
}

// serviceTraffic reads the fields that say how a Service's traffic is
// spread: session affinity (ClientIP, with its timeout) and, for a
// Service published on node ports, the external traffic policy.
func (c *conv) serviceTraffic(s *corev1.ServiceSpec, svc *cluster.Service) {
	published := svc.PublishesNodePorts()
	switch p := s.ExternalTrafficPolicy; p {
	case "", corev1.ServiceExternalTrafficPolicyCluster:
	case corev1.ServiceExternalTrafficPolicyLocal:
		if !published {
			c.errf("spec.externalTrafficPolicy", "may only be Local when spec.type is NodePort or LoadBalancer")
		}
		svc.ExternalTrafficPolicy = cluster.ExternalTrafficPolicyLocal
	default:
		c.errf("spec.externalTrafficPolicy", "%q is not valid (Cluster or Local)", p)
	}
	switch a := s.SessionAffinity; a {
	case "", corev1.ServiceAffinityNone:
		if s.SessionAffinityConfig != nil {
			c.errf("spec.sessionAffinityConfig", "may only be set when spec.sessionAffinity is ClientIP")
		}
	case corev1.ServiceAffinityClientIP:
		if s.ClusterIP == corev1.ClusterIPNone {
			c.errf("spec.sessionAffinity", "ClientIP needs a virtual IP: a headless Service's clients connect to the pods themselves")
		}
		svc.SessionAffinity = cluster.SessionAffinityClientIP
		if cfg := s.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			t := *cfg.ClientIP.TimeoutSeconds
			if t < 1 || t > 86400 {
				c.errf("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "%d is outside 1-86400", t)
			}
			svc.SessionAffinityTimeout = t
		}
	default:
		c.errf("spec.sessionAffinity", "%q is not valid (None or ClientIP)", a)
	}
	if a := s.AllocateLoadBalancerNodePorts; a != nil && !*a {
		c.errf("spec.allocateLoadBalancerNodePorts", "false is not supported by Shoal: a LoadBalancer is published through its node ports on every node")
	} else if a != nil && !published {
		c.errf("spec.allocateLoadBalancerNodePorts", "may only be set when spec.type is LoadBalancer")
	}
}

// ipFamilies accepts what an IPv4 single-stack pod network gives: IPv4,
// SingleStack, or PreferDualStack (which Kubernetes itself makes single
// stack on such a cluster).
func (c *conv) ipFamilies(s *corev1.ServiceSpec) string {
	for i, f := range s.IPFamilies {
		if f != corev1.IPv4Protocol {
			c.errf(index("spec.ipFamilies", i), "%q is not supported by Shoal (IPv4: the pod network is IPv4 single-stack)", f)
		}
	}
	if len(s.IPFamilies) > 1 {
		c.errf("spec.ipFamilies", "at most one family on a single-stack cluster, got %d", len(s.IPFamilies))
	}
	if s.IPFamilyPolicy == nil {
		return ""
	}
	switch p := *s.IPFamilyPolicy; p {
	case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack:
		return string(p)
	case corev1.IPFamilyPolicyRequireDualStack:
		c.errf("spec.ipFamilyPolicy", "%q is not supported by Shoal (SingleStack or PreferDualStack: the pod network is IPv4 single-stack)", p)
	default:
		c.errf("spec.ipFamilyPolicy", "%q is not valid (SingleStack, PreferDualStack or RequireDualStack)", p)
	}
	return ""
}

// port checks a port number; required says whether 0 is an error.
func (c *conv) port(p string, n int32, required bool) {
	if n == 0 && !required {
		return
	}
	if n < 1 || n > 65535 {
		c.errf(p, "%d is not a valid port (1-65535)", n)
	}
}

// protocol defaults and checks a port protocol.
func (c *conv) protocol(p string, proto corev1.Protocol) string {
	switch proto {
	case "":
		return string(corev1.ProtocolTCP)
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return string(proto)
	}
	c.errf(p, "%q is not supported (TCP, UDP or SCTP)", proto)
	return string(proto)
}

// mapOrNil and sliceOrNil store "empty" one way, so that an object written
// with `labels: {}` equals one without labels (and round-trips).
func mapOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func sliceOrNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
