package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	kresource "k8s.io/apimachinery/pkg/api/resource"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/manifest"
)

// The table builders below are pure: they take what the API answered (and,
// where an AGE column is shown, the time to measure it from) so that tests
// can pin their output in golden files.

// table is the objects of one resource, as rows for `get` and
// Kubernetes-shaped for -o json|yaml.
type table struct {
	header []string
	wide   []string // extra columns for -o wide
	rows   [][]string
	wrows  [][]string
	names  []string
	k8s    []any
}

func (t *table) add(name string, k8s any, row, wide []string) {
	t.rows = append(t.rows, row)
	t.wrows = append(t.wrows, wide)
	t.names = append(t.names, name)
	t.k8s = append(t.k8s, k8s)
}

func nodeTable(nodes []api.NodeView) *table {
	t := &table{
		header: []string{"NAME", "STATUS", "RAFT", "CPU", "MEMORY", "GPU", "PODS"},
		wide:   []string{"ADDRESS", "POD-CIDR", "GPU-MODEL", "LABELS"},
	}
	for _, v := range nodes {
		n := v.Node
		status := string(n.Status)
		if n.Unschedulable {
			status += ",SchedulingDisabled"
		}
		for _, c := range v.Conditions {
			status += "," + c
		}
		t.add(n.Name, nodeToK8s(v),
			[]string{n.Name, status, dash(n.Raft),
				fmt.Sprintf("%s/%s", cluster.FormatMilliCPU(v.Requested.MilliCPU), cluster.FormatMilliCPU(n.Allocatable.MilliCPU)),
				fmt.Sprintf("%s/%s", cluster.FormatBytes(v.Requested.Memory), cluster.FormatBytes(n.Allocatable.Memory)),
				fmt.Sprintf("%d/%d", v.Requested.GPU, n.Allocatable.GPU),
				fmt.Sprint(v.Pods)},
			[]string{dash(n.Address), dash(n.PodCIDR), dash(gpuModel(n)), dash(labelString(n.Labels))})
	}
	return t
}

// podTable lays out pods; allNamespaces adds the NAMESPACE column that
// `get -A` needs to tell same-named pods apart.
func podTable(pods []*cluster.Pod, allNamespaces bool, now time.Time) *table {
	t := &table{
		header: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
		wide:   []string{"IP", "NODE"},
	}
	if allNamespaces {
		t.header = append([]string{"NAMESPACE"}, t.header...)
	}
	for _, p := range pods {
		ready, restarts := 0, int32(0)
		for _, cs := range p.Status.Containers {
			if cs.Ready {
				ready++
			}
			restarts += cs.RestartCount
		}
		row := []string{p.Name, fmt.Sprintf("%d/%d", ready, readyTotal(p)), podStatusWord(p), fmt.Sprint(restarts), age(p.CreatedAt, now)}
		if allNamespaces {
			row = append([]string{p.Namespace}, row...)
		}
		t.add(p.Name, podToK8s(p), row, []string{dash(p.Status.PodIP), dash(p.NodeName)})
	}
	return t
}

// workloadTable lays out Deployments or StatefulSets (plural says which);
// pods are those the workloads may own, for the Kubernetes-shaped status.
func workloadTable(plural string, workloads []api.WorkloadView, pods []*cluster.Pod, now time.Time) *table {
	switch plural {
	case "daemonsets":
		return daemonSetTable(workloads, pods, now)
	case "replicasets":
		return replicaSetTable(workloads, pods, now)
	}
	deployments := plural == "deployments"
	t := &table{
		header: []string{"NAME", "READY", "AGE"},
		wide:   []string{"CONTAINERS", "IMAGES", "SELECTOR"},
	}
	if deployments {
		t.header = []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
	}
	for _, v := range workloads {
		wl := v.Workload
		ready := fmt.Sprintf("%d/%d", v.Status.Ready, wl.Replicas)
		row := []string{wl.Name, ready, age(wl.CreatedAt, now)}
		if deployments {
			row = []string{wl.Name, ready, fmt.Sprint(v.Status.Updated), fmt.Sprint(v.Status.Available), age(wl.CreatedAt, now)}
		}
		t.add(wl.Name, workloadToK8s(v, pods), row, workloadWide(wl))
	}
	return t
}

// workloadWide is a workload's -o wide columns: CONTAINERS, IMAGES,
// SELECTOR.
func workloadWide(wl *cluster.Workload) []string {
	var names, images []string
	for _, c := range wl.Template.Containers {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return []string{strings.Join(names, ","), strings.Join(images, ","), labelString(wl.Selector)}
}

// daemonSetTable lays out DaemonSets as kubectl does, counted in nodes.
func daemonSetTable(workloads []api.WorkloadView, pods []*cluster.Pod, now time.Time) *table {
	t := &table{
		header: []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		wide:   []string{"CONTAINERS", "IMAGES", "SELECTOR"},
	}
	for _, v := range workloads {
		wl := v.Workload
		var d cluster.DaemonCounts
		if v.Status.Daemon != nil {
			d = *v.Status.Daemon
		}
		row := []string{wl.Name, fmt.Sprint(d.Desired), fmt.Sprint(d.Current), fmt.Sprint(d.Ready),
			fmt.Sprint(d.Updated), fmt.Sprint(d.Available), orDefault(labelString(wl.Template.NodeSelector), "<none>"), age(wl.CreatedAt, now)}
		t.add(wl.Name, workloadToK8s(v, pods), row, workloadWide(wl))
	}
	return t
}

// replicaSetTable lays out ReplicaSets as kubectl does.
func replicaSetTable(workloads []api.WorkloadView, pods []*cluster.Pod, now time.Time) *table {
	t := &table{
		header: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"},
		wide:   []string{"CONTAINERS", "IMAGES", "SELECTOR"},
	}
	for _, v := range workloads {
		wl := v.Workload
		row := []string{wl.Name, fmt.Sprint(wl.Replicas), fmt.Sprint(v.Status.Replicas), fmt.Sprint(v.Status.Ready), age(wl.CreatedAt, now)}
		t.add(wl.Name, workloadToK8s(v, pods), row, workloadWide(wl))
	}
	return t
}

func serviceTable(services []*cluster.Service) *table {
	t := &table{
		header: []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"},
		wide:   []string{"SELECTOR"},
	}
	for _, s := range services {
		var ports []string
		for _, p := range s.Ports {
			if p.NodePort != 0 {
				ports = append(ports, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, orDefault(p.Protocol, "TCP")))
			} else {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, orDefault(p.Protocol, "TCP")))
			}
		}
		t.add(s.Name, serviceToK8s(s),
			[]string{s.Name, orDefault(s.Type, "ClusterIP"), orDefault(s.ClusterIP, "<none>"), externalIP(s), dash(strings.Join(ports, ","))},
			[]string{dash(labelString(s.Selector))})
	}
	return t
}

// externalIP is the EXTERNAL-IP column as kubectl shows it: a
// LoadBalancer's addresses, <pending> while it has none (no node is
// ready), <none> for other types.
func externalIP(s *cluster.Service) string {
	switch {
	case s.Type != cluster.ServiceTypeLoadBalancer:
		return "<none>"
	case len(s.LoadBalancerIngress) == 0:
		return "<pending>"
	}
	return strings.Join(s.LoadBalancerIngress, ",")
}

// podStatusWord is the STATUS column as kubectl shows it: the most telling
// container reason, else the phase.
// readyTotal counts what READY's denominator counts in kubectl: main
// containers and native sidecars (init containers that keep running).
// objectTable lays out ConfigMaps, Secrets, Namespaces and API-only
// objects as kubectl does (DATA counts a ConfigMap's or Secret's keys).
func objectTable(kind cluster.ObjectKind, items []api.ObjectView, allNamespaces bool, now time.Time) *table {
	t := &table{header: []string{"NAME"}}
	switch kind {
	case cluster.KindConfigMap:
		t.header = append(t.header, "DATA")
	case cluster.KindSecret:
		t.header = append(t.header, "TYPE", "DATA")
	case cluster.KindNamespace:
		t.header = append(t.header, "STATUS")
	case cluster.KindPodDisruptionBudget:
		t.header = append(t.header, "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS")
	case cluster.KindPersistentVolumeClaim:
		t.header = append(t.header, "STATUS", "NODE", "CAPACITY", "ACCESS MODES", "STORAGECLASS")
	case cluster.KindHorizontalPodAutoscaler:
		t.header = append(t.header, "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS")
	}
	t.header = append(t.header, "AGE")
	namespaced := kind.Namespaced() && allNamespaces
	if namespaced {
		t.header = append([]string{"NAMESPACE"}, t.header...)
	}
	for _, v := range items {
		o := v.Object
		row := []string{o.Name}
		switch kind {
		case cluster.KindConfigMap:
			row = append(row, fmt.Sprint(len(o.ConfigKeys())))
		case cluster.KindSecret:
			row = append(row, o.SecretType, fmt.Sprint(len(o.ConfigKeys())))
		case cluster.KindNamespace:
			row = append(row, "Active")
		case cluster.KindPodDisruptionBudget:
			row = append(row, budgetColumns(o, v.Budget)...)
		case cluster.KindPersistentVolumeClaim:
			row = append(row, claimColumns(o, v.Claim)...)
		case cluster.KindHorizontalPodAutoscaler:
			row = append(row, autoscalerColumns(o)...)
		}
		row = append(row, age(o.CreatedAt, now))
		if namespaced {
			row = append([]string{o.Namespace}, row...)
		}
		k8s := manifest.ObjectToK8s(o, v.SecretData)
		if v.Budget != nil {
			k8s = manifest.WithBudgetStatus(k8s, *v.Budget)
		}
		if v.Claim != nil {
			k8s = manifest.WithClaimStatus(k8s, *v.Claim)
		}
		t.add(o.Name, k8s, row, nil)
	}
	return t
}

// claimColumns are a PersistentVolumeClaim's STATUS (Terminating while
// its deletion waits for its pods, as kubectl shows it), NODE, CAPACITY,
// ACCESS MODES and STORAGECLASS.
func claimColumns(o *cluster.Object, st *cluster.ClaimStatus) []string {
	cl := o.Claim
	if cl == nil {
		return []string{"<unknown>", "<none>", "", "", ""}
	}
	status := "<unknown>"
	if st != nil {
		status = st.Phase
	}
	if cl.Terminating {
		status = "Terminating"
	}
	node := "<none>"
	if st != nil && st.Node != "" {
		node = st.Node
	}
	class := ""
	if cl.StorageClassName != nil {
		class = *cl.StorageClassName
	}
	return []string{status, node, kresource.NewQuantity(cl.Storage, kresource.BinarySI).String(), accessModes(cl.AccessModes), class}
}

// accessModes abbreviates access modes as kubectl does (RWO, RWOP).
func accessModes(modes []string) string {
	short := map[string]string{cluster.AccessReadWriteOnce: "RWO", cluster.AccessReadWriteOncePod: "RWOP"}
	out := make([]string, len(modes))
	for i, m := range modes {
		out[i] = orDefault(short[m], m)
	}
	return strings.Join(out, ",")
}

func budgetColumns(o *cluster.Object, st *cluster.BudgetStatus) []string {
	allowed := "<unknown>"
	if st != nil {
		allowed = fmt.Sprint(st.DisruptionsAllowed)
	}
	if o.Budget == nil {
		return []string{"N/A", "N/A", allowed}
	}
	return []string{orDefault(o.Budget.MinAvailable, "N/A"), orDefault(o.Budget.MaxUnavailable, "N/A"), allowed}
}

func readyTotal(p *cluster.Pod) int {
	n := len(p.Spec.Containers)
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy == cluster.RestartAlways {
			n++
		}
	}
	return n
}

// podStatusWord is kubectl's STATUS column: the pod's phase unless a
// container explains better why it is not running. Init containers come
// first and are prefixed "Init:"; one that completed, or a sidecar that
// runs, says nothing.
func podStatusWord(p *cluster.Pod) string {
	if p.Terminating {
		return "Terminating"
	}
	if p.NodeName == "" {
		return string(cluster.PodPending)
	}
	if p.Status.Reason == "Evicted" {
		// What the pod went through, not how its containers ended.
		return p.Status.Reason
	}
	inits := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		inits[c.Name] = true
	}
	for _, cs := range p.Status.Containers {
		if cs.State == cluster.ContainerRunning || cs.Reason == "" {
			continue
		}
		if !inits[cs.Name] {
			return cs.Reason
		}
		if cs.State == cluster.ContainerTerminated && cs.ExitCode == 0 {
			continue
		}
		if cs.Reason != "PodInitializing" {
			return "Init:" + cs.Reason
		}
	}
	if p.Status.Phase == "" {
		return "ContainerCreating"
	}
	return string(p.Status.Phase)
}

func gpuModel(n *cluster.Node) string {
	if len(n.GPUs) == 0 {
		return ""
	}
	return n.GPUs[0].Model
}

func labelString(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func dash(s string) string { return orDefault(s, "<none>") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// age prints how long before now t was, the way kubectl does: 5s, 3m, 2h,
// 4d. now is a parameter so that tests can fix it.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
