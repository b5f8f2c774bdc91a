package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
)

func newDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show one object in detail, with why it is in the state it is",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			return describe(cmd.Context(), g.client(), r, g.namespace, name, cmd.OutOrStdout())
		},
	}
}

func describe(ctx context.Context, c *apiclient.Client, r resource, ns, name string, out io.Writer) error {
	notFound := fmt.Errorf("%s %q not found in namespace %q", strings.TrimSuffix(r.plural, "s"), name, ns)
	switch r.plural {
	case "pods":
		l, err := c.Pods(ctx, ns)
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if p.Name == name {
				return describePod(out, p)
			}
		}
		return notFound
	case "nodes":
		l, err := c.Nodes(ctx)
		if err != nil {
			return err
		}
		pods, err := c.Pods(ctx, "")
		if err != nil {
			return err
		}
		for _, v := range l.Items {
			if v.Node.Name == name {
				return describeNode(out, v, pods.Items)
			}
		}
		return fmt.Errorf("node %q not found", name)
	case "deployments", "statefulsets", "daemonsets", "replicasets", "jobs":
		l, err := c.Workloads(ctx, r.plural, ns)
		if err != nil {
			return err
		}
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return err
		}
		for _, v := range l.Items {
			if v.Workload.Name == name && v.Workload.Kind == cluster.KindJob {
				return describeJob(out, v, pods.Items, time.Now())
			}
			if v.Workload.Name == name {
				return describeWorkload(out, v, pods.Items)
			}
		}
		return notFound
	case "cronjobs":
		return describeCronJobNamed(ctx, c, ns, name, out, notFound)
	case "services":
		l, err := c.Services(ctx, ns)
		if err != nil {
			return err
		}
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return err
		}
		for _, s := range l.Items {
			if s.Name == name {
				return describeService(out, s, pods.Items)
			}
		}
		return notFound
	}
	if k := r.objectKind(); k != "" {
		if !k.Namespaced() {
			ns = ""
		}
		l, err := c.Objects(ctx, r.plural, ns)
		if err != nil {
			return err
		}
		for _, v := range l.Items {
			if v.Object.Name == name {
				return describeObject(out, v, time.Now())
			}
		}
		return notFound
	}
	return fmt.Errorf("describe %s: not supported", r.plural)
}

// describeObject prints a ConfigMap's data, a Secret's keys and sizes
// (never its values, as kubectl), or a stored API-only object.
func describeObject(out io.Writer, v api.ObjectView, now time.Time) error {
	o := v.Object
	w := newDescribeWriter(out)
	fmt.Fprintf(w, "Name:\t%s\n", o.Name)
	if o.Kind.Namespaced() {
		fmt.Fprintf(w, "Namespace:\t%s\n", o.Namespace)
	}
	fmt.Fprintf(w, "Labels:\t%s\n", dash(labelString(o.Labels)))
	fmt.Fprintf(w, "Annotations:\t%s\n", dash(labelString(o.Annotations)))
	switch o.Kind {
	case cluster.KindConfigMap:
		for _, k := range o.ConfigKeys() {
			if d, ok := o.Data[k]; ok {
				fmt.Fprintf(w, "Data %s:\t%s\n", k, strings.ReplaceAll(d, "\n", "\n\t"))
			} else {
				fmt.Fprintf(w, "BinaryData %s:\t%d bytes\n", k, len(o.BinaryData[k]))
			}
		}
	case cluster.KindSecret:
		fmt.Fprintf(w, "Type:\t%s\n", o.SecretType)
		for _, k := range o.ConfigKeys() {
			fmt.Fprintf(w, "Data %s:\t%d bytes\n", k, len(v.SecretData[k]))
		}
		fmt.Fprintf(w, "Stored:\tencrypted (AES-256-GCM, cluster secret key)\n")
	case cluster.KindNamespace:
		fmt.Fprintf(w, "Status:\tActive\n")
	case cluster.KindPodDisruptionBudget:
		if b := o.Budget; b != nil {
			fmt.Fprintf(w, "Min available:\t%s\n", orDefault(b.MinAvailable, "N/A"))
			fmt.Fprintf(w, "Max unavailable:\t%s\n", orDefault(b.MaxUnavailable, "N/A"))
			fmt.Fprintf(w, "Selector:\t%s\n", labelString(b.Selector))
		}
		if st := v.Budget; st != nil {
			fmt.Fprintf(w, "Status:\t%d expected, %d healthy, %d desired healthy: %d disruptions allowed\n",
				st.ExpectedPods, st.CurrentHealthy, st.DesiredHealthy, st.DisruptionsAllowed)
		}
	case cluster.KindPersistentVolumeClaim:
		describeClaim(w, o, v.Claim)
	case cluster.KindHorizontalPodAutoscaler:
		describeAutoscaler(w, out, o, now)
	case cluster.KindServiceAccount:
		fmt.Fprintf(w, "Tokens:\t<none> (Shoal has no Kubernetes API: no token is mounted into pods)\n")
	}
	if o.Kind.APIOnly() {
		fmt.Fprintf(w, "Effect:\tnone (stored so that manifests apply unchanged; Shoal has no Kubernetes API or RBAC)\n")
	}
	return w.Flush()
}

// The describe printers are pure, like the table builders, and each aligns
// its own "Key:<tab>value" lines.
func newDescribeWriter(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
}

func describePod(out io.Writer, p *cluster.Pod) error {
	w := newDescribeWriter(out)
	podSummary(w, p)
	statuses := map[string]cluster.ContainerStatus{}
	for _, cs := range p.Status.Containers {
		statuses[cs.Name] = cs
	}
	containerSection(w, "Init Containers", p.Spec.InitContainers, statuses)
	containerSection(w, "Containers", p.Spec.Containers, statuses)
	fmt.Fprintf(w, "Conditions:\n")
	fmt.Fprintf(w, "  PodScheduled:\t%t\n", p.NodeName != "")
	fmt.Fprintf(w, "  Ready:\t%t\n", p.Ready())
	resizeConditions(w, p)
	volumeSection(w, p.Spec.Volumes)
	podEvents(w, p)
	return w.Flush()
}

func podSummary(w io.Writer, p *cluster.Pod) {
	fmt.Fprintf(w, "Name:\t%s\n", p.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", p.Namespace)
	fmt.Fprintf(w, "UID:\t%s\n", p.UID)
	fmt.Fprintf(w, "Node:\t%s\n", dash(p.NodeName))
	fmt.Fprintf(w, "Start Time:\t%s\n", timeOrNone(p.Status.StartedAt))
	fmt.Fprintf(w, "Labels:\t%s\n", dash(labelString(p.Labels)))
	if len(p.Annotations) > 0 {
		fmt.Fprintf(w, "Annotations:\t%s\n", labelString(p.Annotations))
	}
	fmt.Fprintf(w, "Status:\t%s\n", podStatusWord(p))
	if p.Status.Reason != "" || p.Status.Message != "" {
		fmt.Fprintf(w, "Reason:\t%s\n", strings.TrimSpace(p.Status.Reason+" "+p.Status.Message))
	}
	fmt.Fprintf(w, "IP:\t%s\n", dash(p.Status.PodIP))
	if p.Owner != nil {
		fmt.Fprintf(w, "Controlled By:\t%s/%s\n", p.Owner.Kind, p.Owner.Name)
	}
	if len(p.GPUs) > 0 {
		fmt.Fprintf(w, "GPUs:\t%s\n", strings.Join(p.GPUs, ","))
	}
	req := p.Spec.Requests()
	fmt.Fprintf(w, "Requests:\t%s\n", dash(req.String()))
	podSpecNotes(w, &p.Spec)
}

// podSpecNotes are the lines for what a pod asked of its node beyond its
// containers, shown only when asked.
func podSpecNotes(w io.Writer, s *cluster.PodSpec) {
	if s.ServiceAccountName != "" {
		fmt.Fprintf(w, "Service Account:\t%s (no API token mounted: Shoal has no Kubernetes API)\n", s.ServiceAccountName)
	}
	if s.DNSPolicy != "" {
		fmt.Fprintf(w, "DNS Policy:\t%s\n", s.DNSPolicy)
	}
	if s.ShareProcessNamespace {
		fmt.Fprintf(w, "Process Namespace:\tshared by the pod's containers\n")
	}
	placementNotes(w, s)
}

// containerSection prints containers under title, each with the status its
// node reported (the zero status before the node has reported any).
func containerSection(w io.Writer, title string, cs []cluster.Container, statuses map[string]cluster.ContainerStatus) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, c := range cs {
		st := statuses[c.Name]
		fmt.Fprintf(w, "  %s:\n", c.Name)
		fmt.Fprintf(w, "    Image:\t%s\n", c.Image)
		if len(c.Command)+len(c.Args) > 0 {
			fmt.Fprintf(w, "    Command:\t%s\n", strings.Join(append(slices.Clone(c.Command), c.Args...), " "))
		}
		containerState(w, st)
		fmt.Fprintf(w, "    Ready:\t%t\n", st.Ready)
		fmt.Fprintf(w, "    Restart Count:\t%d\n", st.RestartCount)
		if !c.Limits.IsZero() {
			fmt.Fprintf(w, "    Limits:\t%s\n", c.Limits.String())
		}
		if !c.Requests.IsZero() {
			fmt.Fprintf(w, "    Requests:\t%s\n", c.Requests.String())
		}
		for _, m := range c.VolumeMounts {
			fmt.Fprintf(w, "    Mount:\t%s from %s\n", m.MountPath, m.Name)
		}
	}
}

// containerState prints the current state and, after a restart, how the
// previous run ended: an OOM kill is otherwise invisible once the
// container is back in CrashLoopBackOff.
func containerState(w io.Writer, st cluster.ContainerStatus) {
	state := string(st.State)
	if state == "" {
		state = string(cluster.ContainerWaiting)
	}
	fmt.Fprintf(w, "    State:\t%s\n", state)
	if st.Reason != "" {
		fmt.Fprintf(w, "      Reason:\t%s\n", st.Reason)
	}
	if st.Message != "" {
		fmt.Fprintf(w, "      Message:\t%s\n", st.Message)
	}
	if st.State == cluster.ContainerTerminated {
		fmt.Fprintf(w, "      Exit Code:\t%d\n", st.ExitCode)
	}
	if !st.StartedAt.IsZero() {
		fmt.Fprintf(w, "      Started:\t%s\n", st.StartedAt.Format(time.RFC1123))
	}
	if st.LastTermination != "" {
		fmt.Fprintf(w, "    Last State:\tTerminated\n")
		fmt.Fprintf(w, "      Reason:\t%s\n", st.LastTermination)
		if st.LastMessage != "" {
			fmt.Fprintf(w, "      Message:\t%s\n", st.LastMessage)
		}
		fmt.Fprintf(w, "      Exit Code:\t%d\n", st.LastExitCode)
	}
}

func volumeSection(w io.Writer, vols []cluster.Volume) {
	if len(vols) == 0 {
		return
	}
	fmt.Fprintf(w, "Volumes:\n")
	for _, v := range vols {
		switch {
		case v.EmptyDir != nil:
			fmt.Fprintf(w, "  %s:\tEmptyDir %s\n", v.Name, v.EmptyDir.Medium)
		case v.HostPath != nil:
			fmt.Fprintf(w, "  %s:\tHostPath %s\n", v.Name, v.HostPath.Path)
		case v.Claim != nil && v.Claim.Standalone:
			fmt.Fprintf(w, "  %s:\tPersistentVolumeClaim %s\n", v.Name, v.Claim.ClaimName)
		case v.Claim != nil:
			fmt.Fprintf(w, "  %s:\tClaim %s\n", v.Name, v.Claim.ClaimName)
		case v.ConfigMap != nil:
			fmt.Fprintf(w, "  %s:\tConfigMap %s%s\n", v.Name, v.ConfigMap.Name, optionalNote(v.ConfigMap.Optional))
		case v.Secret != nil:
			fmt.Fprintf(w, "  %s:\tSecret %s%s\n", v.Name, v.Secret.Name, optionalNote(v.Secret.Optional))
		case v.DownwardAPI != nil:
			fmt.Fprintf(w, "  %s:\tDownwardAPI\n", v.Name)
		case v.Projected != nil:
			fmt.Fprintf(w, "  %s:\tProjected %s\n", v.Name, projectedSources(v.Projected))
		}
	}
}

func optionalNote(optional bool) string {
	if optional {
		return " (optional)"
	}
	return ""
}

// projectedSources names a projected volume's sources: "ConfigMap app,
// Secret db, DownwardAPI".
func projectedSources(p *cluster.ProjectedVolumeSource) string {
	var parts []string
	for _, s := range p.Sources {
		switch {
		case s.ConfigMap != nil:
			parts = append(parts, "ConfigMap "+s.ConfigMap.Name+optionalNote(s.ConfigMap.Optional))
		case s.Secret != nil:
			parts = append(parts, "Secret "+s.Secret.Name+optionalNote(s.Secret.Optional))
		case s.DownwardAPI != nil:
			parts = append(parts, "DownwardAPI")
		}
	}
	return strings.Join(parts, ", ")
}

// podEvents stands in for Kubernetes events, which Shoal does not keep: it
// derives the ones a user would look for from the pod's current state.
func podEvents(w io.Writer, p *cluster.Pod) {
	fmt.Fprintf(w, "Events:\n")
	switch {
	case p.NodeName == "" && p.SchedulingMessage != "":
		fmt.Fprintf(w, "  Warning\tFailedScheduling\t%s\n", p.SchedulingMessage)
	case p.NodeName != "":
		fmt.Fprintf(w, "  Normal\tScheduled\tassigned %s/%s to %s\n", p.Namespace, p.Name, p.NodeName)
	}
	if p.Status.Reason == "Evicted" {
		fmt.Fprintf(w, "  Warning\tEvicted\t%s\n", p.Status.Message)
	}
	for _, cs := range p.Status.Containers {
		if cs.LastTermination == "FailedPostStartHook" {
			fmt.Fprintf(w, "  Warning\tFailedPostStartHook\t%s: %s\n", cs.Name, dash(cs.LastMessage))
		}
		if cs.LastTermination == "OOMKilled" || cs.Reason == "OOMKilled" {
			fmt.Fprintf(w, "  Warning\tOOMKilled\tcontainer %s was killed for exceeding its memory limit\n", cs.Name)
		}
		if cs.Reason == "CrashLoopBackOff" || cs.Reason == "ImagePullBackOff" || cs.Reason == "ErrImagePull" {
			fmt.Fprintf(w, "  Warning\tBackOff\t%s: %s %s\n", cs.Name, cs.Reason, cs.Message)
		}
	}
}

func describeNode(out io.Writer, v api.NodeView, pods []*cluster.Pod) error {
	w := newDescribeWriter(out)
	n := v.Node
	fmt.Fprintf(w, "Name:\t%s\n", n.Name)
	fmt.Fprintf(w, "Status:\t%s\n", n.Status)
	if len(v.Conditions) > 0 {
		fmt.Fprintf(w, "Conditions:\t%s\n", strings.Join(v.Conditions, ","))
	}
	fmt.Fprintf(w, "Raft:\t%s\n", dash(n.Raft))
	fmt.Fprintf(w, "Unschedulable:\t%t\n", n.Unschedulable)
	// As kubectl: one taint a line, key=value:Effect.
	if len(n.Taints) == 0 {
		fmt.Fprintf(w, "Taints:\t<none>\n")
	}
	for i, t := range n.Taints {
		label := ""
		if i == 0 {
			label = "Taints:"
		}
		fmt.Fprintf(w, "%s\t%s\n", label, taintString(t))
	}
	fmt.Fprintf(w, "Address:\t%s\n", dash(n.Address))
	fmt.Fprintf(w, "API:\t%s\n", dash(n.APIAddr))
	fmt.Fprintf(w, "PodCIDR:\t%s\n", dash(n.PodCIDR))
	fmt.Fprintf(w, "Labels:\t%s\n", dash(labelString(n.Labels)))
	fmt.Fprintf(w, "Capacity:\t%s\n", dash(n.Capacity.String()))
	fmt.Fprintf(w, "Allocatable:\t%s\n", dash(n.Allocatable.String()))
	fmt.Fprintf(w, "Allocated:\t%s (%d pods)\n", dash(v.Requested.String()), v.Pods)
	if len(n.GPUs) > 0 {
		fmt.Fprintf(w, "GPUs:\n")
		for _, g := range n.GPUs {
			holder := v.GPUHolders[g.ID()]
			mem := ""
			if g.MemoryBytes > 0 {
				mem = cluster.FormatBytes(g.MemoryBytes)
			}
			fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\n", g.Index, dash(g.UUID), dash(g.Model), dash(mem), orDefault(holder, "free"))
		}
	}
	fmt.Fprintf(w, "Pods:\n")
	for _, p := range pods {
		if p.NodeName == n.Name {
			fmt.Fprintf(w, "  %s/%s\t%s\t%s\n", p.Namespace, p.Name, podStatusWord(p), dash(p.Spec.Requests().String()))
		}
	}
	return w.Flush()
}

func describeWorkload(out io.Writer, v api.WorkloadView, pods []*cluster.Pod) error {
	w := newDescribeWriter(out)
	wl := v.Workload
	fmt.Fprintf(w, "Name:\t%s\n", wl.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", wl.Namespace)
	fmt.Fprintf(w, "Kind:\t%s\n", wl.Kind)
	fmt.Fprintf(w, "Selector:\t%s\n", labelString(wl.Selector))
	if d := v.Status.Daemon; d != nil {
		fmt.Fprintf(w, "Node-Selector:\t%s\n", orDefault(labelString(wl.Template.NodeSelector), "<none>"))
		fmt.Fprintf(w, "Desired Number of Nodes Scheduled:\t%d\n", d.Desired)
		fmt.Fprintf(w, "Current Number of Nodes Scheduled:\t%d\n", d.Current)
		fmt.Fprintf(w, "Number of Nodes Scheduled with Up-to-date Pods:\t%d\n", d.Updated)
		fmt.Fprintf(w, "Number of Nodes Scheduled with Available Pods:\t%d\n", d.Available)
	} else {
		fmt.Fprintf(w, "Replicas:\t%d desired | %d updated | %d total | %d ready | %d available\n",
			wl.Replicas, v.Status.Updated, v.Status.Replicas, v.Status.Ready, v.Status.Available)
	}
	if wl.MinReadySeconds > 0 {
		fmt.Fprintf(w, "MinReadySeconds:\t%d (a pod counts as available once ready that long)\n", wl.MinReadySeconds)
	}
	switch wl.Kind {
	case cluster.KindDaemonSet:
		if wl.Strategy == "OnDelete" {
			fmt.Fprintf(w, "Update Strategy:\tOnDelete\n")
		} else {
			fmt.Fprintf(w, "Update Strategy:\tRollingUpdate (maxSurge %s, maxUnavailable %s)\n", orDefault(wl.MaxSurge, "0"), orDefault(wl.MaxUnavailable, "1"))
		}
	case cluster.KindReplicaSet:
		// No strategy: a ReplicaSet never rolls out.
	case cluster.KindDeployment:
		fmt.Fprintf(w, "Strategy:\t%s (maxSurge %s, maxUnavailable %s)\n", orDefault(wl.Strategy, "RollingUpdate"), orDefault(wl.MaxSurge, "25%"), orDefault(wl.MaxUnavailable, "25%"))
	default:
		fmt.Fprintf(w, "Service:\t%s\n", dash(wl.ServiceName))
		for _, c := range wl.VolumeClaimTemplates {
			fmt.Fprintf(w, "Volume Claim:\t%s (%s)\n", c.ClaimName, cluster.FormatBytes(c.Storage))
		}
	}
	fmt.Fprintf(w, "Generation:\t%d (template %s)\n", wl.Generation, wl.TemplateHash)
	fmt.Fprintf(w, "Pods:\n")
	for _, p := range pods {
		if p.Owner != nil && p.Owner.UID == wl.UID {
			node := dash(p.NodeName)
			if p.NodeName == "" && p.DaemonNode != "" {
				node = "(for " + p.DaemonNode + ")"
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", p.Name, podStatusWord(p), node, dash(p.Status.PodIP))
			if p.NodeName == "" && p.DaemonNode != "" && p.SchedulingMessage != "" {
				fmt.Fprintf(w, "    \t%s\n", p.SchedulingMessage)
			}
		}
	}
	return w.Flush()
}

func describeService(out io.Writer, s *cluster.Service, pods []*cluster.Pod) error {
	w := newDescribeWriter(out)
	fmt.Fprintf(w, "Name:\t%s\n", s.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", s.Namespace)
	fmt.Fprintf(w, "Selector:\t%s\n", dash(labelString(s.Selector)))
	fmt.Fprintf(w, "Type:\t%s\n", orDefault(s.Type, "ClusterIP"))
	fmt.Fprintf(w, "IP:\t%s\n", orDefault(s.ClusterIP, "<none> (stored before Shoal had virtual IPs: apply it again for one)"))
	affinity := "None"
	if s.AffinitySeconds() > 0 {
		affinity = fmt.Sprintf("ClientIP (%ds)", s.AffinitySeconds())
	}
	fmt.Fprintf(w, "Session Affinity:\t%s\n", affinity)
	if s.Type == cluster.ServiceTypeLoadBalancer {
		fmt.Fprintf(w, "LoadBalancer Ingress:\t%s\n", orDefault(strings.Join(s.LoadBalancerIngress, ", "), "<pending> (no node is ready)"))
	}
	for _, p := range s.Ports {
		fmt.Fprintf(w, "Port:\t%s %d/%s\n", orDefault(p.Name, "<unset>"), p.Port, orDefault(p.Protocol, "TCP"))
		if p.NodePort != 0 {
			fmt.Fprintf(w, "NodePort:\t%s %d/%s (on every node's address)\n", orDefault(p.Name, "<unset>"), p.NodePort, orDefault(p.Protocol, "TCP"))
		}
	}
	if s.PublishesNodePorts() {
		fmt.Fprintf(w, "External Traffic Policy:\t%s\n", orDefault(s.ExternalTrafficPolicy, "Cluster"))
	}
	var eps []string
	for _, p := range pods {
		if p.Namespace == s.Namespace && cluster.MatchesSelector(s.Selector, p.Labels) && (p.Ready() || s.PublishNotReadyAddresses) && p.Status.PodIP != "" {
			eps = append(eps, p.Status.PodIP)
		}
	}
	fmt.Fprintf(w, "Endpoints:\t%s\n", dash(strings.Join(eps, ",")))
	return w.Flush()
}

func timeOrNone(t time.Time) string {
	if t.IsZero() {
		return "<none>"
	}
	return t.Format(time.RFC1123)
}

// describeClaim prints a PersistentVolumeClaim's spec, phase, node and the
// pods that hold it.
func describeClaim(w io.Writer, o *cluster.Object, st *cluster.ClaimStatus) {
	cl := o.Claim
	if cl == nil {
		return
	}
	cols := claimColumns(o, st)
	fmt.Fprintf(w, "Status:\t%s\n", cols[0])
	fmt.Fprintf(w, "Node:\t%s\n", cols[1])
	fmt.Fprintf(w, "Capacity:\t%s (requested; a claim is a directory on its node, not limited)\n", cols[2])
	fmt.Fprintf(w, "Access Modes:\t%s\n", cols[3])
	fmt.Fprintf(w, "StorageClass:\t%s\n", dash(cols[4]))
	fmt.Fprintf(w, "VolumeMode:\t%s\n", orDefault(cl.VolumeMode, "Filesystem"))
	if cl.Terminating {
		fmt.Fprintf(w, "Finalizers:\t[kubernetes.io/pvc-protection] (deleted once no pod uses it)\n")
	}
	var users []string
	if st != nil {
		users = st.UsedBy
	}
	fmt.Fprintf(w, "Used By:\t%s\n", dash(strings.Join(users, ", ")))
}
