package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
)

// jobTable lays out Jobs as kubectl does.
func jobTable(jobs []api.WorkloadView, pods []*cluster.Pod, now time.Time) *table {
	t := &table{
		header: []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"},
		wide:   []string{"CONTAINERS", "IMAGES", "SELECTOR"},
	}
	for _, v := range jobs {
		wl := v.Workload
		st := wl.JobStatus
		if st == nil {
			st = &cluster.JobStatus{}
		}
		var names, images []string
		for _, c := range wl.Template.Containers {
			names = append(names, c.Name)
			images = append(images, c.Image)
		}
		t.add(wl.Name, workloadToK8s(v, pods),
			[]string{wl.Name, jobStatusWord(st), jobCompletions(wl.Job, st), jobDuration(st, now), age(wl.CreatedAt, now)},
			[]string{strings.Join(names, ","), strings.Join(images, ","), labelString(wl.Selector)})
	}
	return t
}

func jobStatusWord(st *cluster.JobStatus) string {
	if c, ok := st.Finished(); ok {
		return c.Type
	}
	return "Running"
}

// jobCompletions is kubectl's COMPLETIONS: "1/3", or for a Job without
// completions (a work queue) "0/1 of 2" with its parallelism.
func jobCompletions(spec *cluster.JobSpec, st *cluster.JobStatus) string {
	if spec == nil {
		return "-"
	}
	if spec.Completions != nil {
		return fmt.Sprintf("%d/%d", st.Succeeded, *spec.Completions)
	}
	if spec.Parallelism > 1 {
		return fmt.Sprintf("%d/1 of %d", st.Succeeded, spec.Parallelism)
	}
	return fmt.Sprintf("%d/1", st.Succeeded)
}

// jobDuration runs from the start to completion, or to now while the Job
// runs.
func jobDuration(st *cluster.JobStatus, now time.Time) string {
	if st.StartTime == nil {
		return "-"
	}
	end := now
	if st.CompletionTime != nil {
		end = *st.CompletionTime
	} else if c, ok := st.Finished(); ok {
		end = c.LastTransitionTime
	}
	return age(*st.StartTime, end)
}

func describeJob(out io.Writer, v api.WorkloadView, pods []*cluster.Pod, now time.Time) error {
	w := newDescribeWriter(out)
	wl, spec, st := v.Workload, v.Workload.Job, v.Workload.JobStatus
	if spec == nil {
		spec = &cluster.JobSpec{}
	}
	if st == nil {
		st = &cluster.JobStatus{}
	}
	fmt.Fprintf(w, "Name:\t%s\n", wl.Name)
	fmt.Fprintf(w, "Namespace:\t%s\n", wl.Namespace)
	fmt.Fprintf(w, "Selector:\t%s\n", labelString(wl.Selector))
	fmt.Fprintf(w, "Parallelism:\t%d\n", spec.Parallelism)
	if spec.Completions != nil {
		fmt.Fprintf(w, "Completions:\t%d\n", *spec.Completions)
	} else {
		fmt.Fprintf(w, "Completions:\t<unset>\n")
	}
	fmt.Fprintf(w, "Completion Mode:\t%s\n", spec.CompletionMode)
	fmt.Fprintf(w, "Backoff Limit:\t%d\n", spec.BackoffLimit)
	if d := spec.ActiveDeadlineSeconds; d != nil {
		fmt.Fprintf(w, "Active Deadline Seconds:\t%ds\n", *d)
	}
	if ttl := spec.TTLSecondsAfterFinished; ttl != nil {
		fmt.Fprintf(w, "TTL Seconds After Finished:\t%d\n", *ttl)
	}
	for i, r := range spec.PodFailurePolicy {
		fmt.Fprintf(w, "Pod Failure Policy %d:\t%s when %s exit code %s %v\n", i, r.Action, orDefault(r.ContainerName, "any container's"), r.Operator, r.Values)
	}
	if st.StartTime != nil {
		fmt.Fprintf(w, "Start Time:\t%s\n", st.StartTime.Format(time.RFC1123Z))
	}
	if st.CompletionTime != nil {
		fmt.Fprintf(w, "Completed At:\t%s\n", st.CompletionTime.Format(time.RFC1123Z))
	}
	fmt.Fprintf(w, "Duration:\t%s\n", jobDuration(st, now))
	fmt.Fprintf(w, "Pods Statuses:\t%d Active / %d Succeeded / %d Failed\n", st.Active, st.Succeeded, st.Failed)
	if st.CompletedIndexes != "" {
		fmt.Fprintf(w, "Completed Indexes:\t%s\n", st.CompletedIndexes)
	}
	for _, c := range st.Conditions {
		fmt.Fprintf(w, "Condition:\t%s (%s): %s\n", c.Type, c.Reason, c.Message)
	}
	fmt.Fprintf(w, "Pods:\n")
	for _, p := range jobPods(wl, pods) {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", p.Name, podStatusWord(p), dash(p.NodeName), dash(p.Status.PodIP))
	}
	return w.Flush()
}

// jobPods are the Job's pods, oldest first (then by name), the order in
// which kubectl picks the one whose log `logs job/NAME` prints.
func jobPods(wl *cluster.Workload, pods []*cluster.Pod) []*cluster.Pod {
	var own []*cluster.Pod
	for _, p := range pods {
		if p.Owner != nil && p.Owner.UID == wl.UID {
			own = append(own, p)
		}
	}
	slices.SortFunc(own, func(a, b *cluster.Pod) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return own
}

// logsTarget turns the argument of `logs` (POD, pod/POD or job/NAME) into
// a pod name; for a Job it is its first pod, and note says which, as
// kubectl does when there are several.
func logsTarget(ctx context.Context, c *apiclient.Client, ns, arg string) (pod, note string, err error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, "", nil
	}
	r, err := parseKind(kind)
	if err != nil {
		return "", "", err
	}
	switch r.plural {
	case "pods":
		return name, "", nil
	case "jobs":
	default:
		return "", "", fmt.Errorf("logs %s: only pods and jobs have logs here", arg)
	}
	l, err := c.Workloads(ctx, "jobs", ns)
	if err != nil {
		return "", "", fmt.Errorf("read jobs: %w", err)
	}
	i := slices.IndexFunc(l.Items, func(v api.WorkloadView) bool { return v.Workload.Name == name })
	if i < 0 {
		return "", "", fmt.Errorf("job %q not found", name)
	}
	pods, err := c.Pods(ctx, ns)
	if err != nil {
		return "", "", fmt.Errorf("read pods: %w", err)
	}
	own := jobPods(l.Items[i].Workload, pods.Items)
	switch len(own) {
	case 0:
		return "", "", fmt.Errorf("job %q has no pods", name)
	case 1:
		return own[0].Name, "", nil
	}
	return own[0].Name, fmt.Sprintf("Found %d pods, using pod/%s", len(own), own[0].Name), nil
}
