package integration

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"shoal/internal/poll"
)

const everyMinute = `
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 10
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: IMAGE
              command: ["sh", "-c", "echo ran"]
`

// TestCronJobAcrossLeaderKill: a CronJob that fires every minute makes one
// Job per minute slot, none missed and none twice, while its leader is
// killed (-9) between two slots and another takes over. The test takes
// about two minute slots.
func TestCronJobAcrossLeaderKill(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	leader := c.WaitLeader()
	c.Any(leader).Apply(t, manifest(everyMinute, c.Image))

	// slots lists the minutes the CronJob's Jobs were made for, from their
	// names ("tick-<unix minutes>"), checking that each slot has one Job.
	slots := func(a *Agent) []int64 {
		var l batchv1.JobList
		a.ShoalJSON(t, &l, "get", "jobs")
		var out []int64
		for _, j := range l.Items {
			m, err := strconv.ParseInt(strings.TrimPrefix(j.Name, "tick-"), 10, 64)
			if err != nil || j.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] != time.Unix(m*60, 0).UTC().Format(time.RFC3339) {
				t.Fatalf("job %s (annotations %v) is not a slot's Job", j.Name, j.Annotations)
			}
			out = append(out, m)
		}
		slices.Sort(out)
		return out
	}
	var first []int64
	poll.Until(t, 75*time.Second, "the first slot's Job", func() (bool, string) {
		first = slots(c.Any(leader))
		return len(first) > 0, "no Job yet"
	})
	if len(first) != 1 {
		t.Fatalf("Jobs for slots %v, want one", first)
	}
	// Between slots: kill the leader that made the first Job.
	if s := time.Now().Unix() % 60; s > 45 {
		t.Fatalf("the first Job came %ds into its minute: too late to kill the leader between slots", s)
	}
	c.Kill9(leader)
	next := c.WaitForNewLeader(leader)
	t.Logf("killed agent%d; agent%d leads", leader+1, next+1)

	var got []int64
	poll.Until(t, 90*time.Second, "the next slot's Job, made by the new leader", func() (bool, string) {
		got = slots(c.Any(leader))
		return len(got) >= 2, fmt.Sprintf("slots %v", got)
	})
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Errorf("slots %v: not one Job for each minute", got)
		}
	}
	if got[0] != first[0] {
		t.Errorf("slots %v, want the first slot %d kept", got, first[0])
	}
	var cj batchv1.CronJob
	c.Any(leader).ShoalJSON(t, &cj, "get", "cronjob", "tick")
	if ls := cj.Status.LastScheduleTime; ls == nil || ls.Unix()/60 != got[len(got)-1] {
		t.Errorf("lastScheduleTime %v, want the last slot %d", ls, got[len(got)-1])
	}
	t.Logf("slots %v\n%s", got, c.Any(leader).Shoal(t, "get", "cronjobs"))
}
