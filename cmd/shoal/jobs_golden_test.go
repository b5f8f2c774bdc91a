package main

import (
	"bytes"
	"io"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
)

// jobFixtures: a finished Job, an Indexed one half way, a failed one and a
// fresh work queue, with their pods.
func jobFixtures(now time.Time) ([]api.WorkloadView, []*cluster.Pod) {
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	three, four := int32(3), int32(4)
	ttl := int32(3600)
	deadline := int64(600)
	job := func(name string, spec cluster.JobSpec, st *cluster.JobStatus, created time.Duration) api.WorkloadView {
		return api.WorkloadView{Workload: &cluster.Workload{
			Kind: cluster.KindJob, Namespace: "default", Name: name, UID: "uid-" + name,
			Selector: map[string]string{cluster.JobNameLabel: name},
			Template: cluster.PodSpec{RestartPolicy: cluster.RestartNever, Containers: []cluster.Container{{Name: "main", Image: "busybox:1.36"}}},
			Job:      &spec, JobStatus: st, CreatedAt: now.Add(-created), Generation: 1,
		}}
	}
	jobs := []api.WorkloadView{
		job("pi", cluster.JobSpec{Completions: &three, Parallelism: 2, BackoffLimit: 6, CompletionMode: cluster.CompletionNonIndexed, TTLSecondsAfterFinished: &ttl},
			&cluster.JobStatus{StartTime: at(10 * time.Minute), CompletionTime: at(8 * time.Minute), Succeeded: 3,
				Conditions: []cluster.JobCondition{{Type: cluster.JobComplete, Reason: cluster.ReasonCompletionsReached, Message: "Reached expected number of succeeded pods", LastTransitionTime: *at(8 * time.Minute)}}},
			10*time.Minute),
		job("shards", cluster.JobSpec{Completions: &four, Parallelism: 2, BackoffLimit: 6, CompletionMode: cluster.CompletionIndexed},
			&cluster.JobStatus{StartTime: at(90 * time.Second), Active: 2, Succeeded: 2, CompletedIndexes: "0-1"}, 90*time.Second),
		job("flaky", cluster.JobSpec{Parallelism: 1, BackoffLimit: 1, CompletionMode: cluster.CompletionNonIndexed, ActiveDeadlineSeconds: &deadline,
			PodFailurePolicy: []cluster.PodFailureRule{{Action: cluster.FailureFailJob, ContainerName: "main", Operator: "In", Values: []int32{42}}}},
			&cluster.JobStatus{StartTime: at(3 * time.Hour), Failed: 2, LastFailure: at(3*time.Hour - time.Minute),
				Conditions: []cluster.JobCondition{{Type: cluster.JobFailed, Reason: cluster.ReasonBackoffLimit, Message: "Job has reached the specified backoff limit", LastTransitionTime: *at(3*time.Hour - time.Minute)}}},
			3*time.Hour),
		job("queue", cluster.JobSpec{Parallelism: 3, BackoffLimit: 6, CompletionMode: cluster.CompletionNonIndexed}, nil, 0),
	}
	pod := func(owner, name string, phase cluster.PodPhase, created time.Duration, exit int32) *cluster.Pod {
		p := &cluster.Pod{Namespace: "default", Name: name, UID: "uid-" + name, Ordinal: -1, NodeName: "node-a",
			Owner: &cluster.OwnerRef{Kind: cluster.KindJob, Name: owner, UID: "uid-" + owner}, CreatedAt: now.Add(-created),
			Status: cluster.PodStatus{Phase: phase, PodIP: "10.42.0.7"}}
		state := cluster.ContainerRunning
		if phase != cluster.PodRunning {
			state = cluster.ContainerTerminated
		}
		p.Status.Containers = []cluster.ContainerStatus{{Name: "main", State: state, ExitCode: exit}}
		return p
	}
	pods := []*cluster.Pod{
		pod("pi", "pi-b2xkq", cluster.PodSucceeded, 10*time.Minute, 0),
		pod("pi", "pi-7hr2d", cluster.PodSucceeded, 10*time.Minute, 0),
		pod("pi", "pi-zt5mw", cluster.PodSucceeded, 9*time.Minute, 0),
		pod("shards", "shards-2-wq8fn", cluster.PodRunning, 30*time.Second, 0),
		pod("shards", "shards-0-k4dd9", cluster.PodSucceeded, 90*time.Second, 0),
		pod("flaky", "flaky-m2v7c", cluster.PodFailed, 3*time.Hour, 1),
		pod("flaky", "flaky-p9xjl", cluster.PodFailed, 3*time.Hour-30*time.Second, 1),
	}
	return jobs, pods
}

func TestJobGolden(t *testing.T) {
	jobs, pods := jobFixtures(goldenNow)
	r, err := parseKind("jobs")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden, output string
		jobs           []api.WorkloadView
	}{
		{"get-jobs", "", jobs},
		{"get-jobs-wide", "wide", jobs},
		{"get-job-yaml", "yaml", jobs[:1]},
		{"get-job-failed-yaml", "yaml", jobs[2:3]},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := show(&b, r, jobTable(tc.jobs, pods, goldenNow), tc.output, len(tc.jobs) == 1); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	for _, tc := range []struct {
		golden string
		job    int
	}{{"describe-job-complete", 0}, {"describe-job-indexed", 1}, {"describe-job-failed", 2}} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := describeJob(io.Writer(&b), jobs[tc.job], pods, goldenNow); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
	// kubectl's pick for `logs job/pi`: the oldest pod, then by name.
	if got := jobPods(jobs[0].Workload, pods); len(got) != 3 || got[0].Name != "pi-7hr2d" {
		t.Errorf("jobPods(pi) = %v", got)
	}
}
