package main

import (
	"bytes"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
	"shoal/manifest"
)

func cronFixtures(now time.Time) ([]api.WorkloadView, []api.WorkloadView) {
	last := now.Add(-40 * time.Second)
	deadline := int64(30)
	cj := func(name, sched, tz string, suspend bool, st *cluster.CronJobStatus) api.WorkloadView {
		return api.WorkloadView{Workload: &cluster.Workload{
			Kind: cluster.KindCronJob, Namespace: "default", Name: name, UID: "uid-" + name, Generation: 1,
			Template: cluster.PodSpec{RestartPolicy: cluster.RestartOnFailure, Containers: []cluster.Container{{Name: "main", Image: "busybox:1.36", Command: []string{"date"}}}},
			Cron: &cluster.CronJobSpec{Schedule: sched, TimeZone: tz, ConcurrencyPolicy: cluster.ConcurrencyForbid, Suspend: suspend,
				StartingDeadlineSeconds: &deadline, SuccessfulJobsHistoryLimit: 3, FailedJobsHistoryLimit: 1,
				JobLabels:   map[string]string{"team": "data"},
				JobTemplate: cluster.JobSpec{Parallelism: 1, BackoffLimit: 2, CompletionMode: cluster.CompletionNonIndexed}},
			CronStatus: st, CreatedAt: now.Add(-2 * time.Hour),
		}}
	}
	cjs := []api.WorkloadView{
		cj("tick", "* * * * *", "", false, &cluster.CronJobStatus{LastScheduleTime: &last}),
		cj("nightly", "30 2 * * *", "Europe/Paris", true, nil),
	}
	job := func(name string, owner string, done bool) api.WorkloadView {
		w := &cluster.Workload{Kind: cluster.KindJob, Namespace: "default", Name: name, UID: "uid-" + name,
			Owner: &cluster.OwnerRef{Kind: cluster.KindCronJob, Name: owner, UID: "uid-" + owner}}
		if done {
			w.JobStatus = &cluster.JobStatus{Conditions: []cluster.JobCondition{{Type: cluster.JobComplete}}}
		}
		return api.WorkloadView{Workload: w}
	}
	return cjs, []api.WorkloadView{job("tick-1", "tick", true), job("tick-2", "tick", false), job("other", "x", false)}
}

func TestCronJobGolden(t *testing.T) {
	cjs, jobs := cronFixtures(goldenNow)
	r, err := parseKind("cj")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		golden, output string
		cjs            []api.WorkloadView
	}{
		{"get-cronjobs", "", cjs},
		{"get-cronjob-yaml", "yaml", cjs[1:]},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := show(&b, r, cronJobTable(tc.cjs, jobs, goldenNow), tc.output, len(tc.cjs) == 1); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
}

func TestDescribeCronJobGolden(t *testing.T) {
	cjs, jobs := cronFixtures(goldenNow)
	for i, golden := range []string{"describe-cronjob", "describe-cronjob-suspended"} {
		var b bytes.Buffer
		if err := describeCronJob(&b, cjs[i], jobs); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, golden, b.Bytes())
	}
}

// TestJobFromCronJob: `create job --from=cronjob/X` sends a manifest that
// Shoal accepts, of the CronJob's job template.
func TestJobFromCronJob(t *testing.T) {
	cjs, _ := cronFixtures(goldenNow)
	doc, err := jobFromCronJob(cjs[0].Workload, "tick-manual")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.Decode(doc, "create-job")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	j := objs[0].Workload
	if j.Kind != cluster.KindJob || j.Name != "tick-manual" || j.Job.BackoffLimit != 2 || j.Labels["team"] != "data" ||
		j.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || j.Template.Containers[0].Command[0] != "date" {
		t.Errorf("job %+v", j)
	}
}
