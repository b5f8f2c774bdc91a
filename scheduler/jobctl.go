package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"shoal/cluster"
)

// Job back-off, as Kubernetes': 10 s after the first failure, doubling,
// capped at 6 minutes.
const (
	DefaultJobBackoff = 10 * time.Second
	maxJobBackoff     = 6 * time.Minute
)

// jobDecision is what one pass does for a Job: pods to create (their
// completion indexes; -1 for a NonIndexed Job), pods to stop, the new
// status, and whether the finished Job's time to live is over.
type jobDecision struct {
	create []int
	stop   []*cluster.Pod
	status *cluster.JobStatus
	expire bool
}

// decideJob is the Job controller: pure, from the Job, its pods, whether a
// pod's node is lost, the leader's clock and the back-off base.
func decideJob(w *cluster.Workload, pods []*cluster.Pod, lost func(*cluster.Pod) bool, now time.Time, backoff time.Duration) jobDecision {
	spec := w.Job
	st := w.JobStatus.Clone()
	if st == nil {
		st = &cluster.JobStatus{}
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	var d jobDecision
	d.status = st
	var active []*cluster.Pod
	done := map[int]bool{}
	succeeded, failed := int32(0), int32(0)
	failJob := ""
	for _, pod := range pods {
		if pod.Terminating {
			continue
		}
		// With restartPolicy OnFailure the node restarts a failed
		// container in place: Kubernetes counts those restarts against
		// backoffLimit, and so does Shoal.
		if pod.Spec.RestartPolicy == cluster.RestartOnFailure {
			for _, c := range pod.Status.Containers {
				failed += c.RestartCount
			}
		}
		switch pod.Status.Phase {
		case cluster.PodSucceeded:
			succeeded++
			if i, ok := jobIndex(pod); ok {
				done[i] = true
			}
		case cluster.PodFailed:
			switch action, rule := failureAction(spec.PodFailurePolicy, pod); action {
			case cluster.FailureIgnore:
			case cluster.FailureFailJob:
				if failJob == "" {
					failJob = fmt.Sprintf("Pod %s failed, matching podFailurePolicy rule %d (exit code %d)", pod.Name, rule, exitCode(pod))
				}
				failed++
			default:
				failed++
			}
		default:
			if lost(pod) {
				// Its node is gone: the pod is replaced without counting
				// a failure (Kubernetes counts it only when the pod
				// itself failed).
				d.stop = append(d.stop, pod)
				continue
			}
			active = append(active, pod)
		}
	}
	st.Active, st.Succeeded = int32(len(active)), succeeded
	if failed > st.Failed {
		st.LastFailure = &now
	}
	// Failures are kept as counted: a failed pod that leaves the state (its
	// node went away) still counted.
	st.Failed = max(st.Failed, failed)
	if spec.CompletionMode == cluster.CompletionIndexed {
		st.CompletedIndexes = formatIndexes(done)
	}
	if _, finished := st.Finished(); !finished {
		finishJob(spec, st, now, failJob, done, len(active))
	}
	if c, finished := st.Finished(); finished {
		d.stop = append(d.stop, active...)
		st.Active = 0
		if ttl := spec.TTLSecondsAfterFinished; ttl != nil && !now.Before(c.LastTransitionTime.Add(time.Duration(*ttl)*time.Second)) {
			d.expire = true
		}
		return d
	}
	if st.Failed > 0 && st.LastFailure != nil && now.Before(st.LastFailure.Add(jobBackoff(backoff, st.Failed))) {
		return d
	}
	d.create = jobCreations(spec, active, done, succeeded)
	st.Active += int32(len(d.create)) // counted from their creation, as in Kubernetes
	return d
}

// finishJob sets the Job's Failed or Complete condition when it has
// earned one.
func finishJob(spec *cluster.JobSpec, st *cluster.JobStatus, now time.Time, failJob string, done map[int]bool, active int) {
	fail := func(reason, msg string) {
		st.Conditions = append(st.Conditions, cluster.JobCondition{Type: cluster.JobFailed, Reason: reason, Message: msg, LastTransitionTime: now})
	}
	switch {
	case failJob != "":
		fail(cluster.ReasonPodFailurePolicy, failJob)
	case st.Failed > spec.BackoffLimit:
		fail(cluster.ReasonBackoffLimit, "Job has reached the specified backoff limit")
	case spec.ActiveDeadlineSeconds != nil && !now.Before(st.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds)*time.Second)):
		fail(cluster.ReasonDeadlineExceeded, "Job was active longer than specified deadline")
	case jobComplete(spec, st.Succeeded, done, active):
		st.CompletionTime = &now
		st.Conditions = append(st.Conditions, cluster.JobCondition{Type: cluster.JobComplete, Reason: cluster.ReasonCompletionsReached, Message: "Reached expected number of succeeded pods", LastTransitionTime: now})
	}
}

func jobComplete(spec *cluster.JobSpec, succeeded int32, done map[int]bool, active int) bool {
	if spec.Completions == nil {
		// A work queue: done once one pod succeeded and the rest ended.
		return succeeded > 0 && active == 0
	}
	if spec.CompletionMode == cluster.CompletionIndexed {
		for i := range int(*spec.Completions) {
			if !done[i] {
				return false
			}
		}
		return true
	}
	return succeeded >= *spec.Completions
}

// jobCreations returns the indexes of the pods to start now.
func jobCreations(spec *cluster.JobSpec, active []*cluster.Pod, done map[int]bool, succeeded int32) []int {
	room := int(spec.Parallelism) - len(active)
	if room <= 0 {
		return nil
	}
	if spec.CompletionMode == cluster.CompletionIndexed {
		running := map[int]bool{}
		for _, pod := range active {
			if i, ok := jobIndex(pod); ok {
				running[i] = true
			}
		}
		var out []int
		for i := 0; i < int(*spec.Completions) && len(out) < room; i++ {
			if !done[i] && !running[i] {
				out = append(out, i)
			}
		}
		return out
	}
	want := int(spec.Parallelism)
	if spec.Completions != nil {
		want = min(want, int(*spec.Completions-succeeded))
	} else if succeeded > 0 {
		want = 0 // a work queue that has a success starts nothing new
	}
	n := want - len(active)
	if n <= 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = -1
	}
	return out
}

// jobBackoff is the wait before the next pod after failed failures.
func jobBackoff(base time.Duration, failed int32) time.Duration {
	d := base
	for i := int32(1); i < failed; i++ {
		d *= 2
		if d >= maxJobBackoff {
			return maxJobBackoff
		}
	}
	return min(d, maxJobBackoff)
}

// failureAction applies a Job's podFailurePolicy to a failed pod: the first
// rule matching one of its containers' exit codes decides (Count when none
// does), and its 0-based number is returned for messages.
func failureAction(rules []cluster.PodFailureRule, pod *cluster.Pod) (string, int) {
	for i, r := range rules {
		for _, c := range pod.Status.Containers {
			if r.ContainerName != "" && c.Name != r.ContainerName {
				continue
			}
			// Exit code 0 never matches, as in Kubernetes: only a
			// container that failed decides.
			if c.State != cluster.ContainerTerminated || c.ExitCode == 0 {
				continue
			}
			if slices.Contains(r.Values, c.ExitCode) == (r.Operator == "In") {
				return r.Action, i
			}
		}
	}
	return cluster.FailureCount, -1
}

func exitCode(pod *cluster.Pod) int32 {
	for _, c := range pod.Status.Containers {
		if c.ExitCode != 0 {
			return c.ExitCode
		}
	}
	return 0
}

// jobIndex reads an Indexed Job pod's completion index.
func jobIndex(pod *cluster.Pod) (int, bool) {
	s, ok := pod.Annotations[cluster.JobCompletionIndexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0
}

// formatIndexes writes indexes as Kubernetes' completedIndexes: "0-2,5".
func formatIndexes(done map[int]bool) string {
	idx := make([]int, 0, len(done))
	for i := range done {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, strconv.Itoa(idx[i])+"-"+strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
