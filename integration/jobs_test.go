package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// retryJob fails twice, then succeeds: its container counts its runs in
// an emptyDir, which outlives a container restart (restartPolicy
// OnFailure), so the third run sees 2 before it.
const retryJob = `
apiVersion: batch/v1
kind: Job
metadata:
  name: retry
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: OnFailure
      volumes:
        - {name: state, emptyDir: {}}
      containers:
        - name: main
          image: IMAGE
          command: ["sh", "-c"]
          args:
            - |
              n=$(cat /state/runs 2>/dev/null || echo 0)
              n=$((n+1))
              echo $n > /state/runs
              echo "run $n"
              [ $n -ge 3 ]
          volumeMounts:
            - {name: state, mountPath: /state}
`

const indexedJob = `
apiVersion: batch/v1
kind: Job
metadata:
  name: shards
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: main
          image: IMAGE
          command: ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX host=$(hostname)"]
`

// TestJobs on three agents: a Job whose pod fails twice completes after
// its retries, with the failures counted; an Indexed Job's pods each see
// their own index, in their environment and their hostname; both keep
// their finished pods for their logs.
func TestJobs(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	a := c.Any()
	a.Apply(t, manifest(retryJob, c.Image))
	a.Apply(t, manifest(indexedJob, c.Image))

	job := func(name string) batchv1.Job {
		var j batchv1.Job
		a.ShoalJSON(t, &j, "get", "job", name)
		return j
	}
	complete := func(j batchv1.Job) bool {
		for _, cd := range j.Status.Conditions {
			if cd.Type == batchv1.JobComplete && cd.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	poll.Until(t, 2*time.Minute, "both Jobs Complete", func() (bool, string) {
		r, s := job("retry"), job("shards")
		return complete(r) && complete(s), fmt.Sprintf("retry %+v; shards %+v", r.Status, s.Status)
	})

	r := job("retry")
	if r.Status.Succeeded != 1 || r.Status.Failed != 2 || r.Status.StartTime == nil || r.Status.CompletionTime == nil {
		t.Errorf("retry status %+v, want 1 succeeded after 2 failures, with start and completion times", r.Status)
	}
	// The pod's log holds every run of its restarted container.
	if out := a.Shoal(t, "logs", "job/retry"); out != "run 1\nrun 2\nrun 3\n" {
		t.Errorf("logs job/retry = %q, want runs 1 to 3", out)
	}

	s := job("shards")
	if s.Status.Succeeded != 3 || s.Status.CompletedIndexes != "0-2" {
		t.Errorf("shards status %+v, want 3 succeeded, indexes 0-2", s.Status)
	}
	pods := Select(a.Pods(t), Labeled("batch.kubernetes.io/job-name", "shards"))
	if len(pods) != 3 {
		t.Fatalf("shards has %d pods, want its 3 finished ones kept: %s", len(pods), Summary(pods))
	}
	seen := map[string]bool{}
	for _, p := range pods {
		idx := p.Annotations["batch.kubernetes.io/job-completion-index"]
		want := fmt.Sprintf("index=%s host=shards-%s", idx, idx)
		if got := strings.TrimSpace(a.Shoal(t, "logs", p.Name)); got != want || p.Status.Phase != corev1.PodSucceeded {
			t.Errorf("pod %s (%s): log %q, want %q", p.Name, p.Status.Phase, got, want)
		}
		seen[idx] = true
	}
	if len(seen) != 3 {
		t.Errorf("indexes %v, want 0, 1 and 2 once each", seen)
	}
	out := a.Shoal(t, "get", "jobs")
	for _, want := range []string{"retry    Complete   1/1", "shards   Complete   3/3"} {
		if !strings.Contains(out, want) {
			t.Errorf("get jobs lacks %q:\n%s", want, out)
		}
	}
	t.Logf("get jobs:\n%s", out)
}
