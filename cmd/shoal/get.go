package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"shoal/agent/apiclient"
	"shoal/cluster"
)

func newGetCmd(g *globals) *cobra.Command {
	var output string
	var all, consistent bool
	cmd := &cobra.Command{
		Use:   "get nodes|pods|deployments|statefulsets|services [NAME] [-o wide|json|yaml]",
		Short: "List objects",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseKind(args[0])
			if err != nil {
				return err
			}
			if !slices.Contains([]string{"", "wide", "json", "yaml", "name"}, output) {
				return fmt.Errorf("-o %q: expected wide, json, yaml or name", output)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			ns := g.namespace
			if all {
				ns = ""
			}
			c := g.client()
			c.Consistent = consistent
			return get(cmd.Context(), c, r, ns, name, output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json, yaml or name")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list objects of every namespace")
	cmd.Flags().BoolVar(&consistent, "consistent", false, "read through the Raft leader (linearizable) instead of this agent's copy")
	return cmd
}

// objects fetches the items of one resource, Kubernetes-shaped for -o json
// and as rows for tables.
type table struct {
	header []string
	wide   []string // extra columns for -o wide
	rows   [][]string
	wrows  [][]string
	names  []string
	k8s    []any
}

func get(ctx context.Context, c *apiclient.Client, r resource, ns, name, output string, w io.Writer) error {
	t, err := fetch(ctx, c, r, ns, name)
	if err != nil {
		return err
	}
	if name != "" && len(t.names) == 0 {
		return fmt.Errorf("%s %q not found", strings.TrimSuffix(r.plural, "s"), name)
	}
	switch output {
	case "json", "yaml":
		var v any = listOf(t.k8s)
		if name != "" {
			v = t.k8s[0]
		}
		return printObject(w, v, output)
	case "name":
		for _, n := range t.names {
			fmt.Fprintf(w, "%s/%s\n", r.group, n)
		}
		return nil
	}
	if len(t.rows) == 0 {
		fmt.Fprintf(w, "No %s found.\n", r.plural)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := t.header
	if output == "wide" {
		header = append(slices.Clone(header), t.wide...)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i, row := range t.rows {
		if output == "wide" {
			row = append(slices.Clone(row), t.wrows[i]...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func listOf(items []any) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{}}
}

func printObject(w io.Writer, v any, format string) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
	} else {
		b = append(b, '\n')
	}
	_, err = w.Write(b)
	return err
}

func fetch(ctx context.Context, c *apiclient.Client, r resource, ns, name string) (*table, error) {
	t := &table{}
	match := func(n string) bool { return name == "" || n == name }
	switch r.plural {
	case "nodes":
		l, err := c.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		t.header = []string{"NAME", "STATUS", "RAFT", "CPU", "MEMORY", "GPU", "PODS"}
		t.wide = []string{"ADDRESS", "POD-CIDR", "GPU-MODEL", "LABELS"}
		for _, v := range l.Items {
			n := v.Node
			if !match(n.Name) {
				continue
			}
			status := string(n.Status)
			if n.Unschedulable {
				status += ",SchedulingDisabled"
			}
			t.rows = append(t.rows, []string{n.Name, status, dash(n.Raft),
				fmt.Sprintf("%s/%s", cluster.FormatMilliCPU(v.Requested.MilliCPU), cluster.FormatMilliCPU(n.Allocatable.MilliCPU)),
				fmt.Sprintf("%s/%s", cluster.FormatBytes(v.Requested.Memory), cluster.FormatBytes(n.Allocatable.Memory)),
				fmt.Sprintf("%d/%d", v.Requested.GPU, n.Allocatable.GPU),
				fmt.Sprint(v.Pods)})
			t.wrows = append(t.wrows, []string{dash(n.Address), dash(n.PodCIDR), dash(gpuModel(n)), dash(labelString(n.Labels))})
			t.names = append(t.names, n.Name)
			t.k8s = append(t.k8s, nodeToK8s(v))
		}
	case "pods":
		l, err := c.Pods(ctx, ns)
		if err != nil {
			return nil, err
		}
		t.header = []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
		t.wide = []string{"IP", "NODE"}
		if ns == "" {
			t.header = append([]string{"NAMESPACE"}, t.header...)
		}
		for _, p := range l.Items {
			if !match(p.Name) {
				continue
			}
			ready, restarts := 0, int32(0)
			for _, cs := range p.Status.Containers {
				if cs.Ready {
					ready++
				}
				restarts += cs.RestartCount
			}
			row := []string{p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), podStatusWord(p), fmt.Sprint(restarts), age(p.CreatedAt)}
			if ns == "" {
				row = append([]string{p.Namespace}, row...)
			}
			t.rows = append(t.rows, row)
			t.wrows = append(t.wrows, []string{dash(p.Status.PodIP), dash(p.NodeName)})
			t.names = append(t.names, p.Name)
			t.k8s = append(t.k8s, podToK8s(p))
		}
	case "deployments", "statefulsets":
		l, err := c.Workloads(ctx, r.plural, ns)
		if err != nil {
			return nil, err
		}
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return nil, err
		}
		if r.plural == "deployments" {
			t.header = []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"}
		} else {
			t.header = []string{"NAME", "READY", "AGE"}
		}
		t.wide = []string{"CONTAINERS", "IMAGES", "SELECTOR"}
		for _, v := range l.Items {
			wl := v.Workload
			if !match(wl.Name) {
				continue
			}
			ready := fmt.Sprintf("%d/%d", v.Status.Ready, wl.Replicas)
			if r.plural == "deployments" {
				t.rows = append(t.rows, []string{wl.Name, ready, fmt.Sprint(v.Status.Updated), fmt.Sprint(v.Status.Available), age(wl.CreatedAt)})
			} else {
				t.rows = append(t.rows, []string{wl.Name, ready, age(wl.CreatedAt)})
			}
			var names, images []string
			for _, c := range wl.Template.Containers {
				names = append(names, c.Name)
				images = append(images, c.Image)
			}
			t.wrows = append(t.wrows, []string{strings.Join(names, ","), strings.Join(images, ","), labelString(wl.Selector)})
			t.names = append(t.names, wl.Name)
			t.k8s = append(t.k8s, workloadToK8s(v, pods.Items))
		}
	case "services":
		l, err := c.Services(ctx, ns)
		if err != nil {
			return nil, err
		}
		t.header = []string{"NAME", "TYPE", "CLUSTER-IP", "PORT(S)"}
		t.wide = []string{"SELECTOR"}
		for _, s := range l.Items {
			if !match(s.Name) {
				continue
			}
			var ports []string
			for _, p := range s.Ports {
				ports = append(ports, fmt.Sprintf("%d/%s", p.Port, orDefault(p.Protocol, "TCP")))
			}
			typ := orDefault(s.Type, "ClusterIP")
			t.rows = append(t.rows, []string{s.Name, typ, orDefault(s.ClusterIP, "<none>"), dash(strings.Join(ports, ","))})
			t.wrows = append(t.wrows, []string{dash(labelString(s.Selector))})
			t.names = append(t.names, s.Name)
			t.k8s = append(t.k8s, serviceToK8s(s))
		}
	}
	return t, nil
}

// podStatusWord is the STATUS column as kubectl shows it: the most telling
// container reason, else the phase.
func podStatusWord(p *cluster.Pod) string {
	if p.Terminating {
		return "Terminating"
	}
	if p.NodeName == "" {
		return string(cluster.PodPending)
	}
	for _, cs := range p.Status.Containers {
		if cs.State != cluster.ContainerRunning && cs.Reason != "" {
			return cs.Reason
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

// age prints a duration the way kubectl does: 5s, 3m, 2h, 4d.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
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
