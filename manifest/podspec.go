package manifest

import (
	"maps"
	"net"
	"path"
	"slices"
	"strings"

	"shoal/cluster"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kubernetes' defaults that Shoal applies the same way.
const (
	defaultGracePeriod      = 30
	defaultProbePeriod      = 10
	defaultProbeTimeout     = 1
	defaultProbeSuccess     = 1
	defaultProbeFailure     = 3
	defaultHTTPGetPath      = "/"
	defaultHTTPGetScheme    = "HTTP"
	maxGracePeriodSeconds   = 365 * 24 * 3600
	maxProbeIntervalSeconds = 24 * 3600
)

// podSpec converts a pod spec (or a workload's template, at p). claims are
// the StatefulSet's claim templates: each becomes a volume of the same name,
// appended after the declared ones, as Kubernetes' StatefulSet controller
// does.
func (c *conv) podSpec(s *corev1.PodSpec, p string, claims []cluster.ClaimSource, workload bool) cluster.PodSpec {
	out := cluster.PodSpec{
		RestartPolicy:                 cluster.RestartAlways,
		NodeSelector:                  mapOrNil(s.NodeSelector),
		TerminationGracePeriodSeconds: defaultGracePeriod,
		Hostname:                      s.Hostname,
		Subdomain:                     s.Subdomain,
	}
	switch rp := s.RestartPolicy; rp {
	case "":
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		out.RestartPolicy = cluster.RestartPolicy(rp)
		// A workload keeps its replicas running: a pod that may finish
		// would leave a hole (Kubernetes refuses this too).
		if workload && rp != corev1.RestartPolicyAlways {
			c.errf(p+".restartPolicy", "%q is not allowed in a workload template (only Always)", rp)
		}
	default:
		c.errf(p+".restartPolicy", "%q is not supported (Always, OnFailure or Never)", rp)
	}
	c.labels(p+".nodeSelector", s.NodeSelector)
	out.Tolerations = c.tolerations(s.Tolerations, p+".tolerations")
	out.Affinity = c.affinity(s.Affinity, p+".affinity")
	out.TopologySpreadConstraints = c.topologySpread(s.TopologySpreadConstraints, p+".topologySpreadConstraints")
	if g := s.TerminationGracePeriodSeconds; g != nil {
		out.TerminationGracePeriodSeconds = *g
		if *g < 0 || *g > maxGracePeriodSeconds {
			c.errf(p+".terminationGracePeriodSeconds", "%d must be between 0 and %d", *g, maxGracePeriodSeconds)
		}
	}
	if s.Hostname != "" {
		c.check(p+".hostname", s.Hostname, validation.IsDNS1123Label(s.Hostname))
	}
	if s.Subdomain != "" {
		c.check(p+".subdomain", s.Subdomain, validation.IsDNS1123Label(s.Subdomain))
	}
	c.hostNamespaces(s, p, &out)
	out.ImagePullSecrets = c.imagePullSecrets(s.ImagePullSecrets, p+".imagePullSecrets")
	out.SecurityContext = c.podSecurity(s.SecurityContext, p, s.HostIPC)
	c.podDNS(s, p, &out)
	c.serviceAccount(s, p, &out)
	if s.ShareProcessNamespace != nil && *s.ShareProcessNamespace {
		out.ShareProcessNamespace = true
		if s.HostPID {
			c.errf(p+".shareProcessNamespace", "may not be true with hostPID: the pod shares the node's PID namespace already")
		}
	}

	volumes := map[string]bool{}
	for i, v := range s.Volumes {
		out.Volumes = append(out.Volumes, c.volume(v, index(p+".volumes", i), volumes))
	}
	for i, cl := range claims {
		if volumes[cl.ClaimName] {
			c.errf(index(p+".volumes", slices.IndexFunc(s.Volumes, func(v corev1.Volume) bool { return v.Name == cl.ClaimName })),
				"volume %q has the name of spec.volumeClaimTemplates[%d]: rename one of them", cl.ClaimName, i)
		}
		volumes[cl.ClaimName] = true
		out.Volumes = append(out.Volumes, cluster.Volume{Name: cl.ClaimName, Claim: &cluster.ClaimSource{ClaimName: cl.ClaimName, Storage: cl.Storage}})
	}

	if len(s.Containers) == 0 {
		c.errf(p+".containers", "required")
	}
	names := map[string]bool{}
	for i := range s.InitContainers {
		out.InitContainers = append(out.InitContainers, c.container(&s.InitContainers[i], index(p+".initContainers", i), true, volumes, names, out.TerminationGracePeriodSeconds))
	}
	for i := range s.Containers {
		out.Containers = append(out.Containers, c.container(&s.Containers[i], index(p+".containers", i), false, volumes, names, out.TerminationGracePeriodSeconds))
	}
	c.nonRootConflicts(&out, p)
	c.resourceRefContainers(&out, p)
	c.resizeNeverRestarts(&out, p)
	// Only false is stored: nil is Kubernetes' default (true), so the
	// templates applied before the field existed keep their hash.
	if l := s.EnableServiceLinks; l != nil && !*l {
		out.EnableServiceLinks = ptr(false)
	}
	return out
}

// imagePullSecrets keeps the names of the Secrets a pod pulls its images
// with; they need not exist yet (the node looks them up at each pull).
func (c *conv) imagePullSecrets(refs []corev1.LocalObjectReference, p string) []string {
	var out []string
	for i, r := range refs {
		if r.Name == "" {
			c.errf(index(p, i)+".name", "required")
			continue
		}
		c.check(index(p, i)+".name", r.Name, validation.IsDNS1123Subdomain(r.Name))
		out = append(out, r.Name)
	}
	return out
}

func (c *conv) volume(v corev1.Volume, p string, seen map[string]bool) cluster.Volume {
	out := cluster.Volume{Name: v.Name}
	if v.Name == "" {
		c.errf(p+".name", "required")
	} else {
		c.check(p+".name", v.Name, validation.IsDNS1123Label(v.Name))
	}
	if seen[v.Name] {
		c.errf(p+".name", "%q is defined twice", v.Name)
	}
	seen[v.Name] = true
	switch n := volumeSources(v); {
	case n == 0:
		c.errf(p, "needs a source: emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI or projected (the volume types Shoal supports besides StatefulSet claims)")
	case n > 1:
		c.errf(p, "may have only one source (emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI or projected)")
	case v.EmptyDir != nil:
		out.EmptyDir = &cluster.EmptyDirSource{Medium: string(v.EmptyDir.Medium)}
		if m := v.EmptyDir.Medium; m != corev1.StorageMediumDefault && m != corev1.StorageMediumMemory {
			c.errf(p+".emptyDir.medium", "%q is not supported (\"\" or Memory)", m)
		}
		if q := v.EmptyDir.SizeLimit; q != nil {
			n, err := bytesOf(*q)
			if err != nil {
				c.errf(p+".emptyDir.sizeLimit", "%v", err)
			}
			out.EmptyDir.SizeLimit = n
		}
	case v.HostPath != nil:
		out.HostPath = c.hostPath(p, v.HostPath)
	case v.PersistentVolumeClaim != nil:
		// The claim need not exist yet: the pod waits for it, Pending.
		name := v.PersistentVolumeClaim.ClaimName
		if name == "" {
			c.errf(p+".persistentVolumeClaim.claimName", "required")
		} else {
			c.check(p+".persistentVolumeClaim.claimName", name, validation.IsDNS1123Subdomain(name))
		}
		out.Claim = &cluster.ClaimSource{ClaimName: name, Standalone: true}
	default:
		c.configVolume(v, p, &out)
	}
	return out
}

// volumeSources counts the sources a volume sets (those Shoal supports;
// the others were refused before conversion).
func volumeSources(v corev1.Volume) int {
	n := 0
	for _, set := range []bool{v.EmptyDir != nil, v.HostPath != nil, v.ConfigMap != nil, v.Secret != nil,
		v.DownwardAPI != nil, v.Projected != nil, v.PersistentVolumeClaim != nil} {
		if set {
			n++
		}
	}
	return n
}

func (c *conv) hostPath(p string, h *corev1.HostPathVolumeSource) *cluster.HostPathSource {
	out := &cluster.HostPathSource{Path: h.Path}
	if !path.IsAbs(h.Path) {
		c.errf(p+".hostPath.path", "%q must be an absolute path", h.Path)
	}
	if t := h.Type; t != nil {
		out.Type = string(*t)
		switch *t {
		case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
			corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
			corev1.HostPathCharDev, corev1.HostPathBlockDev:
		default:
			c.errf(p+".hostPath.type", "%q is not a valid hostPath type", *t)
		}
	}
	return out
}

// container converts one container; grace is the pod's termination grace
// period, the longest a hook may sleep.
func (c *conv) container(k *corev1.Container, p string, init bool, volumes, names map[string]bool, grace int64) cluster.Container {
	out := cluster.Container{
		Name: k.Name, Image: k.Image, Command: sliceOrNil(k.Command), Args: sliceOrNil(k.Args), WorkingDir: k.WorkingDir,
	}
	c.containerName(p+".name", k.Name, names)
	c.image(p+".image", k.Image)
	sidecar := c.sidecar(p+".restartPolicy", k.RestartPolicy, init)
	if sidecar {
		out.RestartPolicy = cluster.RestartAlways
	}
	out.Env = c.env(p+".env", k.Env)
	out.EnvFrom = c.envFrom(p+".envFrom", k.EnvFrom)
	var portNames map[string]bool
	out.Ports, portNames = c.containerPorts(p+".ports", k.Ports)
	out.Requests, out.Limits = c.resources(p+".resources", k.Resources)
	out.VolumeMounts = c.volumeMounts(p+".volumeMounts", k.VolumeMounts, volumes)
	out.SecurityContext = c.containerSecurity(k.SecurityContext, p)
	out.ResizePolicy = c.resizePolicy(p+".resizePolicy", k.ResizePolicy, init && !sidecar)

	// Kubernetes allows probes on init containers only when they are
	// sidecars: an ordinary one runs to completion and is never "ready".
	if init && !sidecar {
		c.noProbes(p, k)
		if k.Lifecycle != nil {
			c.errf(p+".lifecycle", "may only be set on sidecar init containers (restartPolicy: Always)")
		}
	} else {
		out.Lifecycle = c.lifecycle(k.Lifecycle, p+".lifecycle", portNames, grace)
		out.LivenessProbe = c.probe(k.LivenessProbe, p+".livenessProbe", portNames, true)
		out.ReadinessProbe = c.probe(k.ReadinessProbe, p+".readinessProbe", portNames, false)
		out.StartupProbe = c.probe(k.StartupProbe, p+".startupProbe", portNames, true)
	}

	switch pp := k.ImagePullPolicy; pp {
	case "":
		out.ImagePullPolicy = defaultPullPolicy(k.Image)
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		out.ImagePullPolicy = string(pp)
	default:
		c.errf(p+".imagePullPolicy", "%q is not valid (Always, IfNotPresent or Never)", pp)
	}
	return out
}

// containerName checks a container's name, which must be unique among the
// pod's containers, init containers included.
func (c *conv) containerName(p, name string, names map[string]bool) {
	if name == "" {
		c.errf(p, "required")
		return
	}
	c.check(p, name, validation.IsDNS1123Label(name))
	if names[name] {
		c.errf(p, "%q is used by two containers of the pod", name)
	}
	names[name] = true
}

func (c *conv) image(p, image string) {
	if strings.TrimSpace(image) == "" {
		c.errf(p, "required")
	} else if image != strings.TrimSpace(image) {
		c.errf(p, "%q has leading or trailing spaces", image)
	}
}

// sidecar reports whether a container is a native sidecar: an init
// container with restartPolicy Always keeps running beside the main
// containers. Nothing else is allowed here.
func (c *conv) sidecar(p string, rp *corev1.ContainerRestartPolicy, init bool) bool {
	switch {
	case rp == nil:
		return false
	case !init:
		c.errf(p, "may only be set on init containers (restartPolicy: Always makes a sidecar)")
	case *rp != corev1.ContainerRestartPolicyAlways:
		c.errf(p, "%q is not supported (only Always, which makes a sidecar)", *rp)
	default:
		return true
	}
	return false
}

func (c *conv) env(p string, env []corev1.EnvVar) []cluster.EnvVar {
	var out []cluster.EnvVar
	for i, e := range env {
		out = append(out, c.envVar(index(p, i), e))
	}
	return out
}

// containerPorts converts a container's ports and returns the names they
// declare, which its probes may refer to.
func (c *conv) containerPorts(p string, ports []corev1.ContainerPort) ([]cluster.ContainerPort, map[string]bool) {
	var out []cluster.ContainerPort
	names := map[string]bool{}
	for i, cp := range ports {
		pp := index(p, i)
		port := cluster.ContainerPort{Name: cp.Name, ContainerPort: cp.ContainerPort, HostPort: cp.HostPort,
			HostIP: cp.HostIP, Protocol: c.protocol(pp+".protocol", cp.Protocol)}
		c.port(pp+".containerPort", cp.ContainerPort, true)
		c.port(pp+".hostPort", cp.HostPort, false)
		if cp.HostIP != "" && net.ParseIP(cp.HostIP) == nil {
			c.errf(pp+".hostIP", "%q is not an IP address", cp.HostIP)
		}
		if cp.Name != "" {
			c.check(pp+".name", cp.Name, validation.IsValidPortName(cp.Name))
			if names[cp.Name] {
				c.errf(pp+".name", "%q is used by two ports of the container", cp.Name)
			}
			names[cp.Name] = true
		}
		out = append(out, port)
	}
	return out, names
}

// volumeMounts converts a container's mounts of the pod's volumes.
func (c *conv) volumeMounts(p string, mounts []corev1.VolumeMount, volumes map[string]bool) []cluster.VolumeMount {
	var out []cluster.VolumeMount
	paths := map[string]bool{}
	for i, m := range mounts {
		mp := index(p, i)
		if !volumes[m.Name] {
			c.errf(mp+".name", "%q is not a volume of the pod (spec.volumes or volumeClaimTemplates)", m.Name)
		}
		if !path.IsAbs(m.MountPath) {
			c.errf(mp+".mountPath", "%q must be an absolute path", m.MountPath)
		}
		if paths[m.MountPath] {
			c.errf(mp+".mountPath", "%q is mounted twice", m.MountPath)
		}
		paths[m.MountPath] = true
		if m.SubPath != "" && (path.IsAbs(m.SubPath) || slices.Contains(strings.Split(m.SubPath, "/"), "..")) {
			c.errf(mp+".subPath", "%q must be a relative path without '..'", m.SubPath)
		}
		out = append(out, cluster.VolumeMount{Name: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, ReadOnly: m.ReadOnly})
	}
	return out
}

// noProbes refuses the probes of an init container that is not a sidecar.
func (c *conv) noProbes(p string, k *corev1.Container) {
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", k.LivenessProbe}, {"readinessProbe", k.ReadinessProbe}, {"startupProbe", k.StartupProbe}} {
		if pr.probe != nil {
			c.errf(field(p, pr.name), "may only be set on sidecar init containers (restartPolicy: Always)")
		}
	}
}

// defaultPullPolicy is Kubernetes' rule: Always for ":latest" or no tag
// (and no digest), IfNotPresent otherwise.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return string(corev1.PullIfNotPresent)
	}
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(name, ":"); i < 0 || name[i+1:] == "latest" {
		return string(corev1.PullAlways)
	}
	return string(corev1.PullIfNotPresent)
}

// probe converts a probe with Kubernetes' defaults. onlyOneSuccess: liveness
// and startup probes must have successThreshold 1, as in Kubernetes.
func (c *conv) probe(pr *corev1.Probe, p string, portNames map[string]bool, onlyOneSuccess bool) *cluster.Probe {
	if pr == nil {
		return nil
	}
	out := &cluster.Probe{
		InitialDelaySeconds: pr.InitialDelaySeconds,
		PeriodSeconds:       orDefault(pr.PeriodSeconds, defaultProbePeriod),
		TimeoutSeconds:      orDefault(pr.TimeoutSeconds, defaultProbeTimeout),
		SuccessThreshold:    orDefault(pr.SuccessThreshold, defaultProbeSuccess),
		FailureThreshold:    orDefault(pr.FailureThreshold, defaultProbeFailure),
	}
	for _, f := range []struct {
		name string
		v    int32
		min  int32
	}{
		{"initialDelaySeconds", out.InitialDelaySeconds, 0}, {"periodSeconds", out.PeriodSeconds, 1},
		{"timeoutSeconds", out.TimeoutSeconds, 1}, {"successThreshold", out.SuccessThreshold, 1},
		{"failureThreshold", out.FailureThreshold, 1},
	} {
		if f.v < f.min || f.v > maxProbeIntervalSeconds {
			c.errf(field(p, f.name), "%d must be between %d and %d", f.v, f.min, maxProbeIntervalSeconds)
		}
	}
	if onlyOneSuccess && out.SuccessThreshold != 1 {
		c.errf(p+".successThreshold", "must be 1 for liveness and startup probes")
	}
	var handlers int
	out.Exec, out.HTTPGet, out.TCPSocket, handlers = c.actions(pr.Exec, pr.HTTPGet, pr.TCPSocket, p, portNames)
	if g := pr.GRPC; g != nil {
		handlers++
		out.GRPC = &cluster.GRPCAction{Port: g.Port}
		if g.Service != nil {
			out.GRPC.Service = *g.Service
		}
		// Kubernetes takes a number only: no named port here.
		c.port(p+".grpc.port", g.Port, true)
	}
	if handlers != 1 {
		c.errf(p, "needs exactly one of exec, httpGet, tcpSocket and grpc")
	}
	return out
}

// httpGet converts a probe's or a hook's HTTP GET with Kubernetes'
// defaults (path /, scheme HTTP).
func (c *conv) httpGet(h *corev1.HTTPGetAction, p string, portNames map[string]bool) *cluster.HTTPGetAction {
	out := &cluster.HTTPGetAction{Path: h.Path, Host: h.Host, Scheme: string(h.Scheme)}
	if out.Path == "" {
		out.Path = defaultHTTPGetPath
	}
	switch h.Scheme {
	case "":
		out.Scheme = defaultHTTPGetScheme
	case corev1.URISchemeHTTP, corev1.URISchemeHTTPS:
	default:
		c.errf(p+".scheme", "%q is not valid (HTTP or HTTPS)", h.Scheme)
	}
	out.Port, out.PortName = c.probePort(p+".port", h.Port, portNames)
	for i, hd := range h.HTTPHeaders {
		c.check(index(p+".httpHeaders", i)+".name", hd.Name, validation.IsHTTPHeaderName(hd.Name))
		out.Headers = append(out.Headers, cluster.EnvVar{Name: hd.Name, Value: hd.Value})
	}
	return out
}

func (c *conv) tcpSocket(t *corev1.TCPSocketAction, p string, portNames map[string]bool) *cluster.TCPSocketAction {
	out := &cluster.TCPSocketAction{Host: t.Host}
	out.Port, out.PortName = c.probePort(p+".port", t.Port, portNames)
	return out
}

// probePort resolves a probe's port: a number, or the name of one of the
// container's ports (checked here rather than failing at run time).
// actions converts the handlers probes and hooks share, and counts those
// set (exactly one is allowed; the caller says so with its own name).
func (c *conv) actions(e *corev1.ExecAction, h *corev1.HTTPGetAction, t *corev1.TCPSocketAction, p string, portNames map[string]bool) (
	exec []string, httpGet *cluster.HTTPGetAction, tcp *cluster.TCPSocketAction, n int) {
	if e != nil {
		n++
		exec = sliceOrNil(e.Command)
		if len(e.Command) == 0 {
			c.errf(p+".exec.command", "required")
		}
	}
	if h != nil {
		n++
		httpGet = c.httpGet(h, p+".httpGet", portNames)
	}
	if t != nil {
		n++
		tcp = c.tcpSocket(t, p+".tcpSocket", portNames)
	}
	return exec, httpGet, tcp, n
}

func (c *conv) probePort(p string, port intstr.IntOrString, portNames map[string]bool) (int32, string) {
	if port.Type == intstr.String {
		if !portNames[port.StrVal] {
			c.errf(p, "%q is not the name of a port of this container", port.StrVal)
		}
		return 0, port.StrVal
	}
	c.port(p, port.IntVal, true)
	return port.IntVal, ""
}

func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func sortedStrings(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
