package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"shoal/agent/api"
	"shoal/autoscale"
	"shoal/cluster"
	"shoal/manifest"
)

// newAutoscaleCmd is kubectl's `autoscale`: a HorizontalPodAutoscaler
// for a workload, named after it, following cpu.
func newAutoscaleCmd(g *globals) *cobra.Command {
	var name string
	var minR, maxR, cpu int32
	cmd := &cobra.Command{
		Use:   "autoscale (deployment|statefulset|replicaset)/NAME --max N [--min N] [--cpu-percent P]",
		Short: "Scale a workload on its pods' CPU use (a HorizontalPodAutoscaler)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, target, ok := strings.Cut(args[0], "/")
			r, err := parseKind(kind)
			if !ok || err != nil || target == "" {
				return fmt.Errorf("%q: expected deployment/NAME, statefulset/NAME or replicaset/NAME", args[0])
			}
			if name == "" {
				name = target
			}
			doc, err := autoscalerManifest(g.namespace, name, r.kind, target, minR, maxR, cpu)
			if err != nil {
				return err
			}
			c := g.client()
			l, err := c.Objects(cmd.Context(), "horizontalpodautoscalers", g.namespace)
			if err != nil {
				return fmt.Errorf("read horizontalpodautoscalers: %w", err)
			}
			for _, v := range l.Items {
				if v.Object.Name == name {
					return fmt.Errorf("horizontalpodautoscaler %q already exists in namespace %q", name, g.namespace)
				}
			}
			resp, err := c.Apply(cmd.Context(), []api.File{{Name: "autoscale", Data: string(doc)}})
			if err != nil {
				return err
			}
			for _, r := range resp.Results {
				// kubectl's word for it.
				fmt.Fprintln(cmd.OutOrStdout(), strings.Replace(r, " created", " autoscaled", 1))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the autoscaler's name (default: the workload's)")
	f.Int32Var(&minR, "min", 0, "lower limit of replicas (default 1)")
	f.Int32Var(&maxR, "max", 0, "upper limit of replicas (required)")
	f.Int32Var(&cpu, "cpu-percent", 0, "target average CPU use, percent of the pods' cpu request (default 80)")
	_ = cmd.MarkFlagRequired("max")
	return cmd
}

// autoscalerManifest is the autoscaling/v2 manifest `autoscale` applies,
// so the server checks it as it checks any file.
func autoscalerManifest(ns, name, kind, target string, minR, maxR, cpu int32) ([]byte, error) {
	if cpu < 0 {
		return nil, errors.New("--cpu-percent: must be 1 or more")
	}
	a := &cluster.Autoscaler{TargetKind: cluster.WorkloadKind(kind), TargetName: target, MinReplicas: max(minR, 1), MaxReplicas: maxR}
	if cpu > 0 {
		a.Metrics = []cluster.AutoscalerMetric{{Resource: cluster.CPUResource, TargetType: cluster.UtilizationTarget, AverageUtilization: cpu}}
	}
	if minR < 0 {
		a.MinReplicas = minR // refused by the server, with the field
	}
	o := &cluster.Object{Kind: cluster.KindHorizontalPodAutoscaler, Namespace: ns, Name: name, Autoscaler: a}
	k8s := manifest.ObjectToK8s(o, nil)
	b, err := yaml.Marshal(k8s)
	if err != nil {
		return nil, fmt.Errorf("write horizontalpodautoscaler %s: %w", name, err)
	}
	return b, nil
}

// autoscalerColumns are kubectl's REFERENCE, TARGETS, MINPODS, MAXPODS,
// REPLICAS.
func autoscalerColumns(o *cluster.Object) []string {
	a := o.Autoscaler
	if a == nil {
		return []string{"<none>", "<none>", "<none>", "<none>", "0"}
	}
	replicas := "0"
	if a.Status != nil {
		replicas = fmt.Sprint(a.Status.CurrentReplicas)
	}
	return []string{string(a.TargetKind) + "/" + a.TargetName, manifest.AutoscalerTarget(a),
		fmt.Sprint(a.MinReplicas), fmt.Sprint(a.MaxReplicas), replicas}
}

// describeAutoscaler prints what kubectl's describe hpa prints, with the
// recent decisions in place of events.
// The blocks after the replicas are aligned on their own, as kubectl's.
func describeAutoscaler(w *tabwriter.Writer, out io.Writer, o *cluster.Object, now time.Time) {
	a := o.Autoscaler
	if a == nil {
		return
	}
	fmt.Fprintf(w, "CreationTimestamp:\t%s\n", o.CreatedAt.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(w, "Reference:\t%s/%s\n", a.TargetKind, a.TargetName)
	fmt.Fprintf(w, "Metrics:\t( current / target )\n")
	metrics := a.Metrics
	if len(metrics) == 0 {
		metrics = []cluster.AutoscalerMetric{manifest.DefaultAutoscalerMetric}
	}
	for _, m := range metrics {
		fmt.Fprintf(w, "  %s:\t%s\n", metricTitle(m), metricCurrent(a, m))
	}
	fmt.Fprintf(w, "Min replicas:\t%d\n", a.MinReplicas)
	fmt.Fprintf(w, "Max replicas:\t%d\n", a.MaxReplicas)
	_ = w.Flush()
	fmt.Fprintf(out, "Behavior:\n")
	describeRules(out, "Scale Up", autoscale.UpRules(a.ScaleUp))
	describeRules(out, "Scale Down", autoscale.DownRules(a.ScaleDown))
	w = newDescribeWriter(out)
	st := a.Status
	if st == nil {
		fmt.Fprintf(w, "%s pods:\t<unknown>\n", a.TargetKind)
		fmt.Fprintf(w, "Conditions:\t<none>\n")
		fmt.Fprintf(w, "Decisions:\t<none>\n")
		_ = w.Flush()
		return
	}
	fmt.Fprintf(w, "%s pods:\t%d current / %d desired\n", a.TargetKind, st.CurrentReplicas, st.DesiredReplicas)
	if !st.LastScaleTime.IsZero() {
		fmt.Fprintf(w, "Last scale:\t%s ago\n", age(st.LastScaleTime, now))
	}
	_ = w.Flush()
	fmt.Fprintf(out, "Conditions:\n")
	w = newDescribeWriter(out)
	fmt.Fprintf(w, "  Type\tStatus\tReason\tMessage\n  ----\t------\t------\t-------\n")
	for _, c := range st.Conditions {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
	}
	_ = w.Flush()
	if len(st.Decisions) == 0 {
		fmt.Fprintf(out, "Decisions:  <none>\n")
		return
	}
	fmt.Fprintf(out, "Decisions:\n")
	w = newDescribeWriter(out)
	fmt.Fprintf(w, "  Age\tFrom\tTo\tReason\n  ---\t----\t--\t------\n")
	for i := len(st.Decisions) - 1; i >= 0; i-- {
		d := st.Decisions[i]
		fmt.Fprintf(w, "  %s\t%d\t%d\t%s\n", age(d.At, now), d.From, d.To, d.Reason)
	}
	_ = w.Flush()
}

// metricTitle is kubectl's line for a Resource metric.
func metricTitle(m cluster.AutoscalerMetric) string {
	switch {
	case m.Resource == cluster.GPUResource:
		return "resource nvidia.com/gpu on pods  (percent of time busy)"
	case m.TargetType == cluster.UtilizationTarget:
		return fmt.Sprintf("resource %s on pods  (as a percentage of request)", m.Resource)
	}
	return fmt.Sprintf("resource %s on pods", m.Resource)
}

func metricCurrent(a *cluster.Autoscaler, m cluster.AutoscalerMetric) string {
	cur := "<unknown>"
	if a.Status != nil {
		for _, v := range a.Status.CurrentMetrics {
			if v.Resource != m.Resource {
				continue
			}
			val := quantityOf(m.Resource, v.AverageValue)
			cur = val
			if v.AverageUtilization != nil {
				cur = fmt.Sprintf("%d%% (%s)", *v.AverageUtilization, val)
			}
		}
	}
	if m.TargetType == cluster.UtilizationTarget {
		return fmt.Sprintf("%s / %d%%", cur, m.AverageUtilization)
	}
	return cur + " / " + quantityOf(m.Resource, m.AverageValue)
}

func quantityOf(res string, v int64) string {
	switch res {
	case cluster.CPUResource:
		return cluster.FormatMilliCPU(v)
	case cluster.MemoryResource:
		return cluster.FormatBytes(v)
	}
	return fmt.Sprintf("%d%%", v)
}

func describeRules(out io.Writer, title string, r autoscale.Rules) {
	fmt.Fprintf(out, "  %s:\n", title)
	fmt.Fprintf(out, "    Stabilization Window: %d seconds\n", int(r.Window/time.Second))
	fmt.Fprintf(out, "    Select Policy: %s\n", r.Select)
	fmt.Fprintf(out, "    Policies:\n")
	w := newDescribeWriter(out)
	for _, p := range r.Policies {
		fmt.Fprintf(w, "      - Type: %s\tValue: %d\tPeriod: %d seconds\n", p.Type, p.Value, p.PeriodSeconds)
	}
	_ = w.Flush()
}
