package manifest

import (
	"strings"
	"testing"

	"shoal/cluster"
)

const jobYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 3
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl
`

func TestDecodeJob(t *testing.T) {
	objs, err := Decode([]byte(jobYAML), "job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := objs[0].Workload
	if w == nil || w.Kind != cluster.KindJob || w.Job == nil {
		t.Fatalf("decoded %+v, want a Job", objs[0])
	}
	j := w.Job
	if *j.Completions != 3 || j.Parallelism != 1 || j.BackoffLimit != 6 || j.CompletionMode != cluster.CompletionNonIndexed {
		t.Errorf("defaults: %+v", j)
	}
	if w.Selector[cluster.JobNameLabel] != "pi" {
		t.Errorf("selector %v", w.Selector)
	}
	// The round-trip file must be accepted, or TestNoSilentDrops skips it.
	objs, err = Decode(mustRead(t, "testdata/jobs/job.yaml"), "job.yaml")
	if err != nil || len(objs) != 3 || len(objs[0].Workload.Job.PodFailurePolicy) != 3 || objs[2].Workload.Cron == nil {
		t.Fatalf("testdata/jobs/job.yaml: %v (%d objects)", err, len(objs))
	}
}

func TestDecodeJobErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"restartPolicy Always", "Never", "Always",
			`spec.template.spec.restartPolicy: "Always" is not allowed in a Job: OnFailure or Never (required)`},
		{"restartPolicy missing", "      restartPolicy: Never\n", "",
			`spec.template.spec.restartPolicy: "" is not allowed in a Job: OnFailure or Never (required)`},
		{"indexed without completions", "  completions: 3\n", "  completionMode: Indexed\n",
			`spec.completions: required when spec.completionMode is Indexed`},
		{"bad mode", "  completions: 3\n", "  completionMode: Sparse\n",
			`spec.completionMode: "Sparse" is not supported (NonIndexed or Indexed)`},
		{"negative backoff", "  completions: 3\n", "  backoffLimit: -1\n", `spec.backoffLimit: -1 must be 0 or more`},
		{"zero deadline", "  completions: 3\n", "  activeDeadlineSeconds: 0\n", `spec.activeDeadlineSeconds: 0 must be more than 0`},
		{"onPodConditions", "  completions: 3\n", "  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onPodConditions: [{type: DisruptionTarget}]\n",
			`onPodConditions: not supported by Shoal`},
		{"exit code 0 with In", "  completions: 3\n", "  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onExitCodes: {operator: In, values: [0]}\n",
			`values[0]: 0 may not be used with operator In`},
		{"FailIndex", "  completions: 3\n", "  podFailurePolicy:\n    rules:\n    - action: FailIndex\n      onExitCodes: {operator: In, values: [3]}\n",
			`action: "FailIndex" is not supported (FailJob, Ignore or Count)`},
		{"policy needs Never", "Never", "OnFailure\n  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onExitCodes: {operator: In, values: [3]}",
			`spec.podFailurePolicy: requires spec.template.spec.restartPolicy Never`},
		{"selector is Shoal's", "  completions: 3\n", "  selector: {matchLabels: {a: b}}\n", `spec.selector`},
		{"suspend refused", "  completions: 3\n", "  suspend: true\n", `spec.suspend: not supported by Shoal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(jobYAML, tt.old, tt.new, 1)
			_, err := Decode([]byte(in), "job.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

const cronYAML = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: c
            image: busybox
`

func TestDecodeCronJob(t *testing.T) {
	objs, err := Decode([]byte(cronYAML), "cron.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := objs[0].Workload
	if w.Kind != cluster.KindCronJob || w.Cron == nil || w.Cron.ConcurrencyPolicy != cluster.ConcurrencyAllow ||
		w.Cron.SuccessfulJobsHistoryLimit != 3 || w.Cron.FailedJobsHistoryLimit != 1 || w.Cron.JobTemplate.BackoffLimit != 6 {
		t.Errorf("decoded %+v", w.Cron)
	}
	tests := []struct{ name, old, new, want string }{
		{"bad schedule", `"* * * * *"`, `"61 * * * *"`, `spec.schedule: "61 * * * *" is not a cron schedule`},
		{"six fields", `"* * * * *"`, `"0 * * * * *"`, `is not a cron schedule`},
		{"TZ in schedule", `"* * * * *"`, `"TZ=UTC * * * * *"`, `use spec.timeZone`},
		{"descriptor", `"* * * * *"`, `"@hourly"`, ``},
		{"time zone", `  jobTemplate:`, "  timeZone: Mars/Olympus\n  jobTemplate:", `spec.timeZone: "Mars/Olympus" is not a time zone name`},
		{"policy", `  jobTemplate:`, "  concurrencyPolicy: Sometimes\n  jobTemplate:", `spec.concurrencyPolicy: "Sometimes" is not supported`},
		{"job template path", "Never", "Always", `spec.jobTemplate.spec.template.spec.restartPolicy: "Always" is not allowed in a Job`},
		{"long name", "name: tick", "name: " + strings.Repeat("t", 53), `at most 52`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(strings.Replace(cronYAML, tt.old, tt.new, 1)), "cron.yaml")
			if tt.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
