package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/manifest"
)

// cronJobTable lays out CronJobs as kubectl does; jobs are the Jobs of
// the namespace, for the ACTIVE count.
func cronJobTable(cjs []api.WorkloadView, jobs []api.WorkloadView, now time.Time) *table {
	t := &table{
		header: []string{"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
		wide:   []string{"CONTAINERS", "IMAGES", "SELECTOR"},
	}
	for _, v := range cjs {
		wl := v.Workload
		cs := wl.Cron
		if cs == nil {
			cs = &cluster.CronJobSpec{}
		}
		active := 0
		for _, j := range jobs {
			if _, done := j.Workload.JobStatus.Finished(); j.Workload.IsOwnedBy(wl.UID) && !done {
				active++
			}
		}
		last := "<none>"
		if st := wl.CronStatus; st != nil && st.LastScheduleTime != nil {
			last = age(*st.LastScheduleTime, now)
		}
		var names, images []string
		for _, c := range wl.Template.Containers {
			names = append(names, c.Name)
			images = append(images, c.Image)
		}
		t.add(wl.Name, workloadToK8s(v, nil),
			[]string{wl.Name, cs.Schedule, orDefault(cs.TimeZone, "<none>"), fmt.Sprint(cs.Suspend), fmt.Sprint(active), last, age(wl.CreatedAt, now)},
			[]string{strings.Join(names, ","), strings.Join(images, ","), "<none>"})
	}
	return t
}

func newCreateCmd(g *globals) *cobra.Command {
	create := &cobra.Command{Use: "create", Short: "Create an object from another"}
	var from string
	job := &cobra.Command{
		Use:   "job NAME --from=cronjob/CRONJOB",
		Short: "Run a CronJob's Job now, by hand",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, src, ok := strings.Cut(from, "/")
			if r, err := parseKind(kind); !ok || err != nil || r.plural != "cronjobs" {
				return errors.New("--from: expected cronjob/NAME")
			}
			c := g.client()
			l, err := c.Workloads(cmd.Context(), "cronjobs", g.namespace)
			if err != nil {
				return fmt.Errorf("read cronjobs: %w", err)
			}
			i := slices.IndexFunc(l.Items, func(v api.WorkloadView) bool { return v.Workload.Name == src })
			if i < 0 {
				return fmt.Errorf("cronjob %q not found in namespace %q", src, g.namespace)
			}
			doc, err := jobFromCronJob(l.Items[i].Workload, args[0])
			if err != nil {
				return err
			}
			resp, err := c.Apply(cmd.Context(), []api.File{{Name: "create-job", Data: string(doc)}})
			if err != nil {
				return err
			}
			for _, r := range resp.Results {
				fmt.Fprintln(cmd.OutOrStdout(), strings.Replace(r, " configured", " created", 1))
			}
			return nil
		},
	}
	job.Flags().StringVar(&from, "from", "", "cronjob/NAME whose job template to run")
	_ = job.MarkFlagRequired("from")
	create.AddCommand(job)
	return create
}

// jobFromCronJob writes the manifest of a Job named name made from the
// CronJob's job template, annotated as kubectl does for a manual run.
func jobFromCronJob(cj *cluster.Workload, name string) ([]byte, error) {
	if cj.Cron == nil {
		return nil, fmt.Errorf("cronjob %q has no job template", cj.Name)
	}
	ann := map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	for k, v := range cj.Cron.JobAnnotations {
		ann[k] = v
	}
	j := &cluster.Workload{
		Kind: cluster.KindJob, Namespace: cj.Namespace, Name: name, Labels: cj.Cron.JobLabels, Annotations: ann,
		TemplateLabels: cj.TemplateLabels, TemplateAnnotations: cj.TemplateAnnotations,
		Template: cj.Template, Job: cj.Cron.JobTemplate.Clone(),
	}
	b, err := yaml.Marshal(manifest.WorkloadToK8s(j, nil))
	if err != nil {
		return nil, fmt.Errorf("write job %s: %w", name, err)
	}
	return b, nil
}

func describeCronJobNamed(ctx context.Context, c *apiclient.Client, ns, name string, out io.Writer, notFound error) error {
	l, err := c.Workloads(ctx, "cronjobs", ns)
	if err != nil {
		return err
	}
	jobs, err := c.Workloads(ctx, "jobs", ns)
	if err != nil {
		return err
	}
	for _, v := range l.Items {
		if v.Workload.Name == name {
			return describeCronJob(out, v, jobs.Items)
		}
	}
	return notFound
}

func describeCronJob(out io.Writer, v api.WorkloadView, jobs []api.WorkloadView) error {
	w := newDescribeWriter(out)
	wl, cs := v.Workload, v.Workload.Cron
	if cs == nil {
		cs = &cluster.CronJobSpec{}
	}
	fmt.Fprintf(w, "Name:\t%s\n", wl.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", wl.Namespace)
	fmt.Fprintf(w, "Schedule:\t%s\n", cs.Schedule)
	fmt.Fprintf(w, "Time Zone:\t%s\n", orDefault(cs.TimeZone, "UTC"))
	fmt.Fprintf(w, "Concurrency Policy:\t%s\n", cs.ConcurrencyPolicy)
	fmt.Fprintf(w, "Suspend:\t%v\n", cs.Suspend)
	fmt.Fprintf(w, "Successful Job History Limit:\t%d\n", cs.SuccessfulJobsHistoryLimit)
	fmt.Fprintf(w, "Failed Job History Limit:\t%d\n", cs.FailedJobsHistoryLimit)
	if d := cs.StartingDeadlineSeconds; d != nil {
		fmt.Fprintf(w, "Starting Deadline Seconds:\t%ds\n", *d)
	} else {
		fmt.Fprintf(w, "Starting Deadline Seconds:\t<unset>\n")
	}
	last := "<unset>"
	if st := wl.CronStatus; st != nil && st.LastScheduleTime != nil {
		last = st.LastScheduleTime.Format(time.RFC1123Z)
	}
	fmt.Fprintf(w, "Last Schedule Time:\t%s\n", last)
	fmt.Fprintf(w, "Jobs:\n")
	for _, j := range jobs {
		if j.Workload.IsOwnedBy(wl.UID) {
			st := j.Workload.JobStatus
			if st == nil {
				st = &cluster.JobStatus{}
			}
			fmt.Fprintf(w, "  %s\t%s\n", j.Workload.Name, jobStatusWord(st))
		}
	}
	return w.Flush()
}
