package cluster

import (
	"slices"
	"time"
)

// KindJob is a batch/v1 Job: pods that run to completion.
const KindJob WorkloadKind = "Job"

// Job completion modes.
const (
	CompletionNonIndexed = "NonIndexed"
	CompletionIndexed    = "Indexed"
)

// Job pod failure policy actions.
const (
	FailureFailJob = "FailJob"
	FailureIgnore  = "Ignore"
	FailureCount   = "Count"
)

// Job condition types and reasons, as Kubernetes writes them.
const (
	JobComplete              = "Complete"
	JobFailed                = "Failed"
	ReasonBackoffLimit       = "BackoffLimitExceeded"
	ReasonDeadlineExceeded   = "DeadlineExceeded"
	ReasonPodFailurePolicy   = "PodFailurePolicy"
	ReasonCompletionsReached = "CompletionsReached"
)

// JobCompletionIndexAnnotation carries an Indexed Job pod's index.
const JobCompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index"

// JobNameLabel is the label Kubernetes gives a Job's pods (and selects them
// by).
const JobNameLabel = "batch.kubernetes.io/job-name"

// JobSpec is what a Job asks for; the workload's Template is its pod
// template and Replicas is unused.
type JobSpec struct {
	// Completions is how many pods must succeed; nil: one success ends the
	// Job (a work queue).
	Completions *int32 `json:"completions,omitempty"`
	// Parallelism is the most pods running at once.
	Parallelism  int32 `json:"parallelism"`
	BackoffLimit int32 `json:"backoffLimit"`
	// ActiveDeadlineSeconds bounds the Job's run from its start.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// TTLSecondsAfterFinished deletes the finished Job and its pods.
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          string `json:"completionMode"`
	// PodFailurePolicy rules are tried in order on each failed pod; the
	// first that matches decides.
	PodFailurePolicy []PodFailureRule `json:"podFailurePolicy,omitempty"`
}

// PodFailureRule matches a failed pod by its containers' exit codes.
type PodFailureRule struct {
	Action string `json:"action"`
	// ContainerName limits the rule to one container ("" any).
	ContainerName string `json:"containerName,omitempty"`
	// Operator is In or NotIn; Values are the exit codes.
	Operator string  `json:"operator"`
	Values   []int32 `json:"values"`
}

// JobCondition is a Job's Complete or Failed condition.
type JobCondition struct {
	Type               string    `json:"type"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// JobStatus is what the leader's scheduler recorded of a Job: the times
// and counts it decides on (all in the leader's clock, written through the
// log so a new leader carries on from them).
type JobStatus struct {
	StartTime      *time.Time `json:"startTime,omitempty"`
	CompletionTime *time.Time `json:"completionTime,omitempty"`
	Active         int32      `json:"active,omitempty"`
	Succeeded      int32      `json:"succeeded,omitempty"`
	Failed         int32      `json:"failed,omitempty"`
	// CompletedIndexes lists an Indexed Job's succeeded indexes, as
	// Kubernetes writes them ("0-2,5").
	CompletedIndexes string `json:"completedIndexes,omitempty"`
	// LastFailure is when the leader first saw the latest counted failure:
	// the back-off before the next pod runs from it.
	LastFailure *time.Time     `json:"lastFailure,omitempty"`
	Conditions  []JobCondition `json:"conditions,omitempty"`
}

// Finished returns the Job's Complete or Failed condition, if any.
func (s *JobStatus) Finished() (JobCondition, bool) {
	if s == nil {
		return JobCondition{}, false
	}
	for _, c := range s.Conditions {
		if c.Type == JobComplete || c.Type == JobFailed {
			return c, true
		}
	}
	return JobCondition{}, false
}

// Clone returns a deep copy of s (nil for nil).
func (s *JobStatus) Clone() *JobStatus {
	if s == nil {
		return nil
	}
	c := *s
	c.StartTime = cloneTime(s.StartTime)
	c.CompletionTime = cloneTime(s.CompletionTime)
	c.LastFailure = cloneTime(s.LastFailure)
	c.Conditions = slices.Clone(s.Conditions)
	return &c
}

// Clone returns a deep copy of j (nil for nil).
func (j *JobSpec) Clone() *JobSpec {
	if j == nil {
		return nil
	}
	c := *j
	if j.Completions != nil {
		v := *j.Completions
		c.Completions = &v
	}
	if j.ActiveDeadlineSeconds != nil {
		v := *j.ActiveDeadlineSeconds
		c.ActiveDeadlineSeconds = &v
	}
	if j.TTLSecondsAfterFinished != nil {
		v := *j.TTLSecondsAfterFinished
		c.TTLSecondsAfterFinished = &v
	}
	c.PodFailurePolicy = slices.Clone(j.PodFailurePolicy)
	for i := range c.PodFailurePolicy {
		c.PodFailurePolicy[i].Values = slices.Clone(j.PodFailurePolicy[i].Values)
	}
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

// JobStatusUpdate is the leader's new status for one Job; the UID keeps it
// off a newer Job of the same name.
type JobStatusUpdate struct {
	Namespace string     `json:"namespace"`
	Name      string     `json:"name"`
	UID       string     `json:"uid"`
	Status    *JobStatus `json:"status"`
}
