package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
)

func newGetCmd(g *globals) *cobra.Command {
	var output string
	var all, consistent, local bool
	cmd := &cobra.Command{
		Use: "get KIND [NAME] [-o wide|json|yaml|name]",
		Long: "List objects of one kind: nodes, pods, deployments, statefulsets, daemonsets, replicasets, jobs, cronjobs, services, configmaps, secrets,\n" +
			"namespaces, serviceaccounts, roles, rolebindings, clusterroles, clusterrolebindings.",
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
			c.Consistent, c.Local = consistent, local
			return get(cmd.Context(), c, r, ns, name, output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json, yaml or name")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list objects of every namespace")
	cmd.Flags().BoolVar(&consistent, "consistent", false, "read through the Raft leader (linearizable) instead of this agent's copy")
	cmd.Flags().BoolVar(&local, "local", false, "on an agent outside Raft, show its node's view (other nodes' pods summarized) instead of reading through the leader")
	cmd.MarkFlagsMutuallyExclusive("consistent", "local")
	return cmd
}

func get(ctx context.Context, c *apiclient.Client, r resource, ns, name, output string, w io.Writer) error {
	t, err := fetch(ctx, c, r, ns, name, time.Now())
	if err != nil {
		return err
	}
	if name != "" && len(t.names) == 0 {
		return fmt.Errorf("%s %q not found", strings.TrimSuffix(r.plural, "s"), name)
	}
	return show(w, r, t, output, name != "")
}

// show prints t in the format -o asked for; single is set when the user
// named one object, which -o json|yaml then prints bare, not in a List.
func show(w io.Writer, r resource, t *table, output string, single bool) error {
	switch output {
	case "json", "yaml":
		var v any = listOf(t.k8s)
		if single {
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

// fetch reads the objects of r in namespace ns ("" for all), only those
// called name unless it is "", and lays them out for show.
func fetch(ctx context.Context, c *apiclient.Client, r resource, ns, name string, now time.Time) (*table, error) {
	switch r.plural {
	case "nodes":
		l, err := c.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		return nodeTable(named(l.Items, name, func(v api.NodeView) string { return v.Node.Name })), nil
	case "pods":
		l, err := c.Pods(ctx, ns)
		if err != nil {
			return nil, err
		}
		return podTable(named(l.Items, name, func(p *cluster.Pod) string { return p.Name }), ns == "", now), nil
	case "deployments", "statefulsets", "daemonsets", "replicasets":
		l, err := c.Workloads(ctx, r.plural, ns)
		if err != nil {
			return nil, err
		}
		// Pods as well, for the Kubernetes-shaped status of -o json|yaml.
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return nil, err
		}
		wls := named(l.Items, name, func(v api.WorkloadView) string { return v.Workload.Name })
		return workloadTable(r.plural, wls, pods.Items, now), nil
	case "jobs":
		l, err := c.Workloads(ctx, r.plural, ns)
		if err != nil {
			return nil, err
		}
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return nil, err
		}
		return jobTable(named(l.Items, name, func(v api.WorkloadView) string { return v.Workload.Name }), pods.Items, now), nil
	case "cronjobs":
		l, err := c.Workloads(ctx, r.plural, ns)
		if err != nil {
			return nil, err
		}
		jobs, err := c.Workloads(ctx, "jobs", ns)
		if err != nil {
			return nil, err
		}
		return cronJobTable(named(l.Items, name, func(v api.WorkloadView) string { return v.Workload.Name }), jobs.Items, now), nil
	case "services":
		l, err := c.Services(ctx, ns)
		if err != nil {
			return nil, err
		}
		return serviceTable(named(l.Items, name, func(s *cluster.Service) string { return s.Name })), nil
	}
	if k := r.objectKind(); k != "" {
		l, err := c.Objects(ctx, r.plural, ns)
		if err != nil {
			return nil, err
		}
		return objectTable(k, named(l.Items, name, func(v api.ObjectView) string { return v.Object.Name }), ns == "", now), nil
	}
	return &table{}, nil
}

// named keeps the items called name, or all of them when name is "".
func named[T any](items []T, name string, nameOf func(T) string) []T {
	if name == "" {
		return items
	}
	var out []T
	for _, it := range items {
		if nameOf(it) == name {
			out = append(out, it)
		}
	}
	return out
}
