package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/metrics"
)

func newTopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top nodes|pods",
		Short: "Show the CPU and memory nodes and pods use (as kubectl top does)",
		Long: "Every agent samples its containers' cgroups and its node every --metrics-interval (10s); " +
			"the agent asked gathers the other agents' figures. CPU is the rate over the last interval, " +
			"memory the working set (in use minus inactive file cache).",
	}
	cmd.AddCommand(newTopNodesCmd(g), newTopPodsCmd(g))
	return cmd
}

func newTopNodesCmd(g *globals) *cobra.Command {
	var sortBy string
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Show the CPU and memory of nodes",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			c := g.client()
			l, warnings, err := c.NodeMetrics(cmd.Context(), name)
			printWarnings(cmd.ErrOrStderr(), warnings)
			if err != nil {
				return err
			}
			nodes, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			alloc := map[string]cluster.Resources{}
			for _, n := range nodes.Items {
				if name == "" || n.Node.Name == name {
					alloc[n.Node.Name] = n.Node.Allocatable
				}
			}
			return printTopNodes(cmd.OutOrStdout(), l.Items, alloc, sortBy)
		},
	}
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "sort by cpu or memory, largest first (default: by name)")
	return cmd
}

func newTopPodsCmd(g *globals) *cobra.Command {
	var all, containers bool
	var sortBy string
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Show the CPU and memory of pods",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			ns, name := g.namespace, ""
			if len(args) == 1 {
				name = args[0]
			}
			if all {
				if name != "" {
					return fmt.Errorf("a pod name needs its namespace (-n), not -A")
				}
				ns = ""
			}
			l, warnings, err := g.client().PodMetrics(cmd.Context(), ns, name)
			printWarnings(cmd.ErrOrStderr(), warnings)
			if err != nil {
				return err
			}
			if len(l.Items) == 0 {
				if all {
					fmt.Fprintln(cmd.ErrOrStderr(), "No resources found.")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", ns)
				}
				return nil
			}
			return printTopPods(cmd.OutOrStdout(), l.Items, all, containers, sortBy)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "pods of every namespace")
	cmd.Flags().BoolVar(&containers, "containers", false, "one line per container")
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "sort by cpu or memory, largest first (default: by name)")
	return cmd
}

func checkSortBy(s string) error {
	if s != "" && s != "cpu" && s != "memory" {
		return fmt.Errorf("--sort-by %q: expected cpu or memory", s)
	}
	return nil
}

func printWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "Warning: %s\n", s)
	}
}

// kubectl top's figures: CPU in millicores, memory in whole MiB (rounded
// down), percentages of what the node can allocate (rounded down).
func topCPU(milli int64) string    { return fmt.Sprintf("%dm", milli) }
func topMemory(bytes int64) string { return fmt.Sprintf("%dMi", bytes/(1<<20)) }

func percent(used, of int64) string {
	if of <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", used*100/of)
}

type topRow struct {
	key   []string // what the line is sorted by by default
	usage metrics.Usage
	cells []string
}

func sortRows(rows []topRow, by string) {
	slices.SortStableFunc(rows, func(a, b topRow) int {
		switch by {
		case "cpu":
			return cmp.Compare(b.usage.MilliCPU, a.usage.MilliCPU)
		case "memory":
			return cmp.Compare(b.usage.MemoryBytes, a.usage.MemoryBytes)
		}
		return slices.Compare(a.key, b.key)
	})
}

func writeRows(w io.Writer, header []string, rows []topRow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells, "\t"))
	}
	return tw.Flush()
}

// printTopNodes prints what `kubectl top nodes` prints for the nodes
// alloc names (what each may allocate); a node without metrics shows
// <unknown>, as there.
func printTopNodes(w io.Writer, items []api.NodeMetrics, alloc map[string]cluster.Resources, sortBy string) error {
	var rows []topRow
	for _, m := range items {
		a, ok := alloc[m.Metadata.Name]
		if !ok {
			continue
		}
		delete(alloc, m.Metadata.Name)
		u, err := m.Usage.Parse()
		if err != nil {
			return fmt.Errorf("node %s: %w", m.Metadata.Name, err)
		}
		rows = append(rows, topRow{key: []string{m.Metadata.Name}, usage: u, cells: []string{
			m.Metadata.Name, topCPU(u.MilliCPU), percent(u.MilliCPU, a.MilliCPU), topMemory(u.MemoryBytes), percent(u.MemoryBytes, a.Memory),
		}})
	}
	sortRows(rows, sortBy)
	for _, n := range slices.Sorted(maps.Keys(alloc)) {
		u := "<unknown>"
		rows = append(rows, topRow{cells: []string{n, u, u, u, u}})
	}
	return writeRows(w, []string{"NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"}, rows)
}

// printTopPods prints what `kubectl top pods` prints: a pod's containers
// summed, or (containers) one line each.
func printTopPods(w io.Writer, items []api.PodMetrics, allNamespaces, containers bool, sortBy string) error {
	var rows []topRow
	for _, p := range items {
		var prefix []string
		if allNamespaces {
			prefix = []string{p.Metadata.Namespace}
		}
		var total metrics.Usage
		for _, c := range p.Containers {
			u, err := c.Usage.Parse()
			if err != nil {
				return fmt.Errorf("pod %s container %s: %w", p.Metadata.Name, c.Name, err)
			}
			total = total.Add(u)
			if containers {
				cells := append(slices.Clone(prefix), p.Metadata.Name, c.Name, topCPU(u.MilliCPU), topMemory(u.MemoryBytes))
				rows = append(rows, topRow{key: []string{p.Metadata.Namespace, p.Metadata.Name, c.Name}, usage: u, cells: cells})
			}
		}
		if !containers {
			cells := append(slices.Clone(prefix), p.Metadata.Name, topCPU(total.MilliCPU), topMemory(total.MemoryBytes))
			rows = append(rows, topRow{key: []string{p.Metadata.Namespace, p.Metadata.Name}, usage: total, cells: cells})
		}
	}
	sortRows(rows, sortBy)
	header := []string{"NAME", "CPU(cores)", "MEMORY(bytes)"}
	if containers {
		header = []string{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"}
	}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	return writeRows(w, header, rows)
}
