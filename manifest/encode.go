package manifest

import (
	"strconv"

	"shoal/cluster"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The encoders write Kubernetes-shaped objects for `shoal get -o json|yaml`,
// so that scripts written against kubectl output keep working. Their spec
// parts use only fields the decoder supports, with defaults written out,
// so that the output of `get -o yaml` applies again unchanged.

// PodToK8s writes a pod as a v1 Pod, with its status.
func PodToK8s(p *cluster.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: KindPod},
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: types.UID(p.UID),
			Labels: p.Labels, Annotations: p.Annotations,
			CreationTimestamp: metav1.NewTime(p.CreatedAt),
		},
		Spec: podSpecToK8s(p.Spec, p.Name),
	}
	if p.Owner != nil {
		out.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: string(p.Owner.Kind), Name: p.Owner.Name, UID: types.UID(p.Owner.UID),
			Controller: ptr(true), BlockOwnerDeletion: ptr(true),
		}}
	}
	out.Spec.NodeName = p.NodeName
	st := &out.Status
	st.Phase = corev1.PodPhase(p.Status.Phase)
	if st.Phase == "" {
		st.Phase = corev1.PodPending
	}
	st.Reason, st.Message = p.Status.Reason, p.Status.Message
	if p.Terminating && st.Reason == "" {
		st.Reason = "Terminating"
	}
	st.PodIP, st.HostIP = p.Status.PodIP, p.Status.HostIP
	if p.Status.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
	}
	if p.Status.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: p.Status.HostIP}}
	}
	if !p.Status.StartedAt.IsZero() {
		st.StartTime = ptr(metav1.NewTime(p.Status.StartedAt))
	}
	sched := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	if p.NodeName == "" {
		sched.Status, sched.Reason, sched.Message = corev1.ConditionFalse, corev1.PodReasonUnschedulable, p.SchedulingMessage
	}
	ready := corev1.ConditionFalse
	if p.Ready() {
		ready = corev1.ConditionTrue
	}
	st.Conditions = []corev1.PodCondition{
		sched,
		{Type: corev1.ContainersReady, Status: ready},
		{Type: corev1.PodReady, Status: ready},
	}
	st.Conditions = append(st.Conditions, resizeConditions(p)...)
	isInit := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		isInit[c.Name] = true
	}
	for _, cs := range p.Status.Containers {
		k := containerStatusToK8s(cs)
		appliedToK8s(&k, cs, p.Spec.Containers)
		if isInit[cs.Name] {
			st.InitContainerStatuses = append(st.InitContainerStatuses, k)
		} else {
			st.ContainerStatuses = append(st.ContainerStatuses, k)
		}
	}
	return out
}

func containerStatusToK8s(cs cluster.ContainerStatus) corev1.ContainerStatus {
	out := corev1.ContainerStatus{
		Name: cs.Name, Image: cs.Image, ContainerID: cs.ContainerID,
		Ready: cs.Ready, RestartCount: cs.RestartCount,
	}
	switch cs.State {
	case cluster.ContainerRunning:
		out.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cs.StartedAt)}
		out.Started = ptr(true)
	case cluster.ContainerTerminated:
		out.State.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: cs.ExitCode, Reason: cs.Reason, Message: cs.Message,
			StartedAt: metav1.NewTime(cs.StartedAt), FinishedAt: metav1.NewTime(cs.FinishedAt),
		}
		out.Started = ptr(false)
	default:
		out.State.Waiting = &corev1.ContainerStateWaiting{Reason: cs.Reason, Message: cs.Message}
		out.Started = ptr(false)
	}
	if cs.LastTermination != "" {
		out.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
			Reason: cs.LastTermination, ExitCode: cs.LastExitCode, Message: cs.LastMessage,
		}
	}
	return out
}

// WorkloadToK8s writes a workload as an apps/v1 Deployment, StatefulSet or
// DaemonSet (returned as a pointer to one). Its status counts the given
// pods: pass the workload's pods (others, by owner UID, are skipped).
func WorkloadToK8s(w *cluster.Workload, pods []*cluster.Pod) any {
	if w.Kind == cluster.KindDaemonSet {
		// Without the nodes, the desired count is the nodes it runs on.
		c := cluster.CountDaemons(w, pods, 0)
		c.Desired = c.Current
		return DaemonSetToK8s(w, c)
	}
	meta := workloadMeta(w)
	template := workloadTemplate(w)
	if w.Kind == cluster.KindReplicaSet {
		return replicaSetToK8s(w, meta, template, pods)
	}
	var claims []corev1.PersistentVolumeClaim
	switch w.Kind {
	case cluster.KindJob:
		return jobToK8s(w, meta, template)
	case cluster.KindCronJob:
		return cronJobToK8s(w, meta, template)
	}
	selector := &metav1.LabelSelector{MatchLabels: w.Selector}
	replicas := w.Replicas
	historyLimit := ptr(int32(w.HistoryLimit()))

	var total, ready, available, updated int32
	for _, p := range pods {
		if p.Terminating || (w.UID != "" && (p.Owner == nil || p.Owner.UID != w.UID)) {
			continue
		}
		total++
		if p.Ready() {
			ready++
		}
		if w.PodAvailable(p) {
			available++
		}
		if p.TemplateHash == w.TemplateHash {
			updated++
		}
	}

	if w.Kind == cluster.KindStatefulSet {
		for _, cl := range w.VolumeClaimTemplates {
			var class *string
			if cl.StorageClassName != "" {
				class = &cl.StorageClassName
			}
			claims = append(claims, corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: cl.ClaimName, Labels: cl.Labels, Annotations: cl.Annotations},
				Spec: corev1.PersistentVolumeClaimSpec{
					StorageClassName: class,
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: *resource.NewQuantity(cl.Storage, resource.BinarySI),
					}},
				},
			})
		}
		return &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindStatefulSet},
			ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{
				Replicas: &replicas, Selector: selector, Template: template,
				ServiceName: w.ServiceName, VolumeClaimTemplates: claims,
				RevisionHistoryLimit: historyLimit,
				PodManagementPolicy:  appsv1.PodManagementPolicyType(w.PodManagementPolicy),
				MinReadySeconds:      w.MinReadySeconds,
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.StatefulSetUpdateStrategyType(w.Strategy)},
			},
			Status: appsv1.StatefulSetStatus{
				ObservedGeneration: w.Generation, Replicas: total, ReadyReplicas: ready,
				CurrentReplicas: updated, UpdatedReplicas: updated, AvailableReplicas: available,
				CurrentRevision: w.Name + "-" + w.TemplateHash, UpdateRevision: w.Name + "-" + w.TemplateHash,
			},
		}
	}
	strategy := appsv1.DeploymentStrategy{Type: appsv1.DeploymentStrategyType(w.Strategy)}
	if w.Strategy == string(appsv1.RollingUpdateDeploymentStrategyType) {
		strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxSurge: intOrPercentToK8s(w.MaxSurge), MaxUnavailable: intOrPercentToK8s(w.MaxUnavailable),
		}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDeployment},
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: selector, Template: template, Strategy: strategy,
			RevisionHistoryLimit: historyLimit, MinReadySeconds: w.MinReadySeconds,
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: w.Generation, Replicas: total, ReadyReplicas: ready,
			UpdatedReplicas: updated, AvailableReplicas: available, UnavailableReplicas: max(0, replicas-available),
		},
	}
}

// DaemonSetToK8s writes a DaemonSet as an apps/v1 DaemonSet, with its
// status counts c (see cluster.CountDaemons).
func DaemonSetToK8s(w *cluster.Workload, c cluster.DaemonCounts) *appsv1.DaemonSet {
	strategy := appsv1.DaemonSetUpdateStrategy{Type: appsv1.DaemonSetUpdateStrategyType(w.Strategy)}
	if w.Strategy == string(appsv1.RollingUpdateDaemonSetStrategyType) {
		strategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{
			MaxSurge: intOrPercentToK8s(w.MaxSurge), MaxUnavailable: intOrPercentToK8s(w.MaxUnavailable),
		}
	}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDaemonSet},
		ObjectMeta: workloadMeta(w),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: w.Selector}, Template: workloadTemplate(w),
			UpdateStrategy: strategy, RevisionHistoryLimit: ptr(int32(w.HistoryLimit())),
			MinReadySeconds: w.MinReadySeconds,
		},
		Status: appsv1.DaemonSetStatus{
			ObservedGeneration:     w.Generation,
			DesiredNumberScheduled: c.Desired, CurrentNumberScheduled: c.Current,
			NumberReady: c.Ready, UpdatedNumberScheduled: c.Updated,
			NumberAvailable: c.Available, NumberUnavailable: max(0, c.Desired-c.Available),
		},
	}
}

func replicaSetToK8s(w *cluster.Workload, meta metav1.ObjectMeta, template corev1.PodTemplateSpec, pods []*cluster.Pod) *appsv1.ReplicaSet {
	var total, ready, available int32
	for _, p := range pods {
		if p.Terminating || (w.UID != "" && (p.Owner == nil || p.Owner.UID != w.UID)) {
			continue
		}
		total++
		if p.Ready() {
			ready++
		}
		if w.PodAvailable(p) {
			available++
		}
	}
	replicas := w.Replicas
	return &appsv1.ReplicaSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindReplicaSet},
		ObjectMeta: meta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: w.Selector}, Template: template,
			MinReadySeconds: w.MinReadySeconds,
		},
		Status: appsv1.ReplicaSetStatus{
			ObservedGeneration: w.Generation, Replicas: total, FullyLabeledReplicas: total,
			ReadyReplicas: ready, AvailableReplicas: available,
		},
	}
}

func workloadMeta(w *cluster.Workload) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: w.Name, Namespace: w.Namespace, UID: types.UID(w.UID),
		Labels: w.Labels, Annotations: w.Annotations, Generation: w.Generation,
		CreationTimestamp: metav1.NewTime(w.CreatedAt),
	}
}

// workloadTemplate writes a workload's pod template. Claim volumes are the
// claim templates' doing: they are written back as volumeClaimTemplates,
// not as pod volumes, so the output re-applies.
func workloadTemplate(w *cluster.Workload) corev1.PodTemplateSpec {
	tmpl := w.Template.Clone()
	tmpl.Volumes = nil
	for _, v := range w.Template.Volumes {
		if v.Claim == nil || v.Claim.Standalone {
			tmpl.Volumes = append(tmpl.Volumes, v)
		}
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: w.TemplateLabels, Annotations: w.TemplateAnnotations}, Spec: podSpecToK8s(tmpl, "")}
}

func intOrPercentToK8s(s string) *intstr.IntOrString {
	if s == "" {
		return nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		v := intstr.FromInt32(int32(n))
		return &v
	}
	v := intstr.FromString(s)
	return &v
}

// ServiceToK8s writes a service as a v1 Service.
func ServiceToK8s(s *cluster.Service) *corev1.Service {
	out := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: KindService},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.Name, Namespace: s.Namespace, UID: types.UID(s.UID), Labels: s.Labels,
			Annotations: s.Annotations,
		},
		Spec: corev1.ServiceSpec{
			Selector: s.Selector, ClusterIP: s.ClusterIP, Type: corev1.ServiceType(s.Type),
			SessionAffinity:          corev1.ServiceAffinityNone, // Kubernetes writes the default out
			PublishNotReadyAddresses: s.PublishNotReadyAddresses,
		},
	}
	if s.ClusterIP != "" {
		out.Spec.ClusterIPs = []string{s.ClusterIP}
	}
	if s.SessionAffinity == cluster.SessionAffinityClientIP {
		out.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		out.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(s.AffinitySeconds())}}
	}
	for _, f := range s.IPFamilies {
		out.Spec.IPFamilies = append(out.Spec.IPFamilies, corev1.IPFamily(f))
	}
	if s.IPFamilyPolicy != "" {
		out.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicy(s.IPFamilyPolicy))
	}
	if s.PublishesNodePorts() {
		out.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		if s.ExternalTrafficPolicy == cluster.ExternalTrafficPolicyLocal {
			out.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
	}
	if s.Type == cluster.ServiceTypeLoadBalancer {
		for _, ip := range s.LoadBalancerIngress {
			out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
	for _, p := range s.Ports {
		sp := corev1.ServicePort{Name: p.Name, Protocol: corev1.Protocol(p.Protocol), Port: p.Port, NodePort: p.NodePort}
		if p.AppProtocol != "" {
			sp.AppProtocol = ptr(p.AppProtocol)
		}
		switch {
		case p.TargetPortName != "":
			sp.TargetPort = intstr.FromString(p.TargetPortName)
		case p.TargetPort != 0:
			sp.TargetPort = intstr.FromInt32(p.TargetPort)
		default:
			sp.TargetPort = intstr.FromInt32(p.Port) // Kubernetes' default
		}
		out.Spec.Ports = append(out.Spec.Ports, sp)
	}
	return out
}

// podSpecToK8s writes a pod spec; podName names the pod whose claims the
// claim volumes are (Kubernetes calls them <claim>-<pod>), "" in templates.
func podSpecToK8s(s cluster.PodSpec, podName string) corev1.PodSpec {
	out := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicy(s.RestartPolicy), NodeSelector: s.NodeSelector,
		TerminationGracePeriodSeconds: ptr(s.TerminationGracePeriodSeconds),
		Hostname:                      s.Hostname, Subdomain: s.Subdomain,
		HostNetwork: s.HostNetwork, HostPID: s.HostPID, HostIPC: s.HostIPC,
		SecurityContext:    podSecurityToK8s(s.SecurityContext),
		EnableServiceLinks: ptr(s.ServiceLinks()),
		// Both names, as Kubernetes writes them.
		ServiceAccountName: s.ServiceAccountName, DeprecatedServiceAccount: s.ServiceAccountName,
		AutomountServiceAccountToken: s.AutomountServiceAccountToken,
		DNSPolicy:                    corev1.DNSPolicy(s.DNSPolicy),
		DNSConfig:                    dnsConfigToK8s(s.DNSConfig),
		Tolerations:                  tolerationsToK8s(s.Tolerations),
		Affinity:                     affinityToK8s(s.Affinity),
		TopologySpreadConstraints:    topologySpreadToK8s(s.TopologySpreadConstraints),
	}
	for _, name := range s.ImagePullSecrets {
		out.ImagePullSecrets = append(out.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	if out.DNSPolicy == "" {
		out.DNSPolicy = corev1.DNSClusterFirst // Kubernetes' default, written out
	}
	if s.ShareProcessNamespace {
		out.ShareProcessNamespace = ptr(true)
	}
	for _, v := range s.Volumes {
		kv := corev1.Volume{Name: v.Name}
		switch {
		case v.EmptyDir != nil:
			kv.EmptyDir = &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMedium(v.EmptyDir.Medium)}
			if v.EmptyDir.SizeLimit != 0 {
				kv.EmptyDir.SizeLimit = resource.NewQuantity(v.EmptyDir.SizeLimit, resource.BinarySI)
			}
		case v.HostPath != nil:
			kv.HostPath = &corev1.HostPathVolumeSource{Path: v.HostPath.Path}
			if v.HostPath.Type != "" {
				kv.HostPath.Type = ptr(corev1.HostPathType(v.HostPath.Type))
			}
		case v.Claim != nil && v.Claim.Standalone:
			kv.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.Claim.ClaimName}
		case v.Claim != nil:
			kv.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.Claim.ClaimName + "-" + podName}
		default:
			configVolumeToK8s(v, &kv)
		}
		out.Volumes = append(out.Volumes, kv)
	}
	for _, c := range s.InitContainers {
		out.InitContainers = append(out.InitContainers, containerToK8s(c))
	}
	for _, c := range s.Containers {
		out.Containers = append(out.Containers, containerToK8s(c))
	}
	return out
}

func dnsConfigToK8s(c *cluster.PodDNSConfig) *corev1.PodDNSConfig {
	if c == nil {
		return nil
	}
	out := &corev1.PodDNSConfig{Nameservers: c.Nameservers, Searches: c.Searches}
	for _, o := range c.Options {
		out.Options = append(out.Options, corev1.PodDNSConfigOption{Name: o.Name, Value: o.Value})
	}
	return out
}

func containerToK8s(c cluster.Container) corev1.Container {
	out := corev1.Container{
		Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
		ImagePullPolicy: corev1.PullPolicy(c.ImagePullPolicy),
		Resources: corev1.ResourceRequirements{
			Requests: resourceListToK8s(c.Requests), Limits: resourceListToK8s(c.Limits),
		},
		LivenessProbe:   probeToK8s(c.LivenessProbe),
		ReadinessProbe:  probeToK8s(c.ReadinessProbe),
		StartupProbe:    probeToK8s(c.StartupProbe),
		Lifecycle:       lifecycleToK8s(c.Lifecycle),
		SecurityContext: securityToK8s(c.SecurityContext),
	}
	if c.RestartPolicy != "" {
		out.RestartPolicy = ptr(corev1.ContainerRestartPolicy(c.RestartPolicy))
	}
	for _, e := range c.Env {
		out.Env = append(out.Env, corev1.EnvVar{Name: e.Name, Value: e.Value, ValueFrom: envSourceToK8s(e.ValueFrom)})
	}
	for _, e := range c.EnvFrom {
		out.EnvFrom = append(out.EnvFrom, envFromToK8s(e))
	}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, corev1.ContainerPort{
			Name: p.Name, ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIP: p.HostIP,
			Protocol: corev1.Protocol(p.Protocol),
		})
	}
	for _, r := range c.ResizePolicy {
		out.ResizePolicy = append(out.ResizePolicy, corev1.ContainerResizePolicy{
			ResourceName: corev1.ResourceName(r.ResourceName), RestartPolicy: corev1.ResourceResizeRestartPolicy(r.RestartPolicy),
		})
	}
	for _, m := range c.VolumeMounts {
		out.VolumeMounts = append(out.VolumeMounts, corev1.VolumeMount{
			Name: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, ReadOnly: m.ReadOnly,
		})
	}
	return out
}

func podSecurityToK8s(sc *cluster.PodSecurityContext) *corev1.PodSecurityContext {
	if sc == nil {
		return nil
	}
	out := &corev1.PodSecurityContext{
		RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
		SupplementalGroups: sc.SupplementalGroups, FSGroup: sc.FSGroup,
		SeccompProfile: seccompToK8s(sc.SeccompProfile),
	}
	for _, s := range sc.Sysctls {
		out.Sysctls = append(out.Sysctls, corev1.Sysctl{Name: s.Name, Value: s.Value})
	}
	return out
}

func securityToK8s(sc *cluster.SecurityContext) *corev1.SecurityContext {
	if sc == nil {
		return nil
	}
	out := &corev1.SecurityContext{
		RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, RunAsNonRoot: sc.RunAsNonRoot,
		ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem, AllowPrivilegeEscalation: sc.AllowPrivilegeEscalation,
		Privileged: sc.Privileged, SeccompProfile: seccompToK8s(sc.SeccompProfile),
	}
	if sc.ProcMount != "" {
		out.ProcMount = ptr(corev1.ProcMountType(sc.ProcMount))
	}
	if caps := sc.Capabilities; caps != nil {
		out.Capabilities = &corev1.Capabilities{}
		for _, a := range caps.Add {
			out.Capabilities.Add = append(out.Capabilities.Add, corev1.Capability(a))
		}
		for _, d := range caps.Drop {
			out.Capabilities.Drop = append(out.Capabilities.Drop, corev1.Capability(d))
		}
	}
	return out
}

func seccompToK8s(sp *cluster.SeccompProfile) *corev1.SeccompProfile {
	if sp == nil {
		return nil
	}
	out := &corev1.SeccompProfile{Type: corev1.SeccompProfileType(sp.Type)}
	if sp.LocalhostProfile != "" {
		out.LocalhostProfile = ptr(sp.LocalhostProfile)
	}
	return out
}

func probeToK8s(p *cluster.Probe) *corev1.Probe {
	if p == nil {
		return nil
	}
	out := &corev1.Probe{
		InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
		TimeoutSeconds: p.TimeoutSeconds, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold,
	}
	switch {
	case p.Exec != nil:
		out.Exec = &corev1.ExecAction{Command: p.Exec}
	case p.HTTPGet != nil:
		out.HTTPGet = httpGetToK8s(p.HTTPGet)
	case p.TCPSocket != nil:
		out.TCPSocket = tcpSocketToK8s(p.TCPSocket)
	case p.GRPC != nil:
		// Kubernetes defaults an unset service to "" and prints it.
		out.GRPC = &corev1.GRPCAction{Port: p.GRPC.Port, Service: ptr(p.GRPC.Service)}
	}
	return out
}

func lifecycleToK8s(l *cluster.Lifecycle) *corev1.Lifecycle {
	if l == nil {
		return nil
	}
	return &corev1.Lifecycle{PostStart: hookToK8s(l.PostStart), PreStop: hookToK8s(l.PreStop)}
}

func hookToK8s(h *cluster.LifecycleHandler) *corev1.LifecycleHandler {
	if h == nil {
		return nil
	}
	out := &corev1.LifecycleHandler{}
	switch {
	case h.Exec != nil:
		out.Exec = &corev1.ExecAction{Command: h.Exec}
	case h.HTTPGet != nil:
		out.HTTPGet = httpGetToK8s(h.HTTPGet)
	case h.TCPSocket != nil:
		out.TCPSocket = tcpSocketToK8s(h.TCPSocket)
	case h.Sleep != nil:
		out.Sleep = &corev1.SleepAction{Seconds: h.Sleep.Seconds}
	}
	return out
}

func httpGetToK8s(h *cluster.HTTPGetAction) *corev1.HTTPGetAction {
	out := &corev1.HTTPGetAction{Path: h.Path, Port: portToK8s(h.Port, h.PortName), Host: h.Host, Scheme: corev1.URIScheme(h.Scheme)}
	for _, hd := range h.Headers {
		out.HTTPHeaders = append(out.HTTPHeaders, corev1.HTTPHeader{Name: hd.Name, Value: hd.Value})
	}
	return out
}

func tcpSocketToK8s(t *cluster.TCPSocketAction) *corev1.TCPSocketAction {
	return &corev1.TCPSocketAction{Port: portToK8s(t.Port, t.PortName), Host: t.Host}
}

func portToK8s(n int32, name string) intstr.IntOrString {
	if name != "" {
		return intstr.FromString(name)
	}
	return intstr.FromInt32(n)
}

// resourceListToK8s writes resources as Kubernetes quantities: cpu "500m"
// or "2", memory and ephemeral-storage "64Mi" (or plain bytes), GPUs a
// count. Only what is set
// appears, so a container without limits has no limits.
func resourceListToK8s(r cluster.Resources) corev1.ResourceList {
	if r.IsZero() {
		return nil
	}
	l := corev1.ResourceList{}
	if r.MilliCPU != 0 {
		l[corev1.ResourceCPU] = resource.MustParse(cluster.FormatMilliCPU(r.MilliCPU))
	}
	if r.Memory != 0 {
		l[corev1.ResourceMemory] = resource.MustParse(cluster.FormatBytes(r.Memory))
	}
	if r.EphemeralStorage != 0 {
		l[corev1.ResourceEphemeralStorage] = resource.MustParse(cluster.FormatBytes(r.EphemeralStorage))
	}
	if r.GPU != 0 {
		l[cluster.ResourceGPU] = *resource.NewQuantity(r.GPU, resource.DecimalSI)
	}
	return l
}

func ptr[T any](v T) *T { return &v }

// ListObject is a v1 List, what kubectl prints for several objects.
type ListObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []any  `json:"items"`
}

// List wraps objects in a v1 List. Items is never null, so `.items | length`
// works on an empty list.
func List(items ...any) *ListObject {
	if items == nil {
		items = []any{}
	}
	return &ListObject{APIVersion: "v1", Kind: "List", Items: items}
}
