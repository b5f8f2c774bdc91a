package scheduler

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"shoal/cluster"
)

func ptrTo[T any](v T) *T { return &v }

// mkJob is a Job with restartPolicy Never; edit sets its spec.
func mkJob(edit func(*cluster.JobSpec)) *cluster.Workload {
	w := mkWorkload(cluster.KindJob, "job", 0, cluster.Resources{})
	w.Template.RestartPolicy = cluster.RestartNever
	w.Job = &cluster.JobSpec{Parallelism: 1, BackoffLimit: 6, CompletionMode: cluster.CompletionNonIndexed}
	if edit != nil {
		edit(w.Job)
	}
	rehash(w)
	return w
}

// jobPod is a pod of w in phase, with an index (-1 none) and the exit
// code of its one container when it ended.
func jobPod(w *cluster.Workload, name string, phase cluster.PodPhase, index int, exit int32) *cluster.Pod {
	p := mkPod(w, name, "n1", false, t0)
	p.Status.Phase = phase
	if index >= 0 {
		p.Annotations = map[string]string{cluster.JobCompletionIndexAnnotation: strconv.Itoa(index)}
	}
	if phase == cluster.PodFailed || phase == cluster.PodSucceeded {
		p.Status.Containers = []cluster.ContainerStatus{{Name: "main", State: cluster.ContainerTerminated, ExitCode: exit}}
	}
	return p
}

func TestDecideJob(t *testing.T) {
	t1 := t0.Add(time.Minute)
	type want struct {
		create                    []int
		stop                      int
		active, succeeded, failed int32
		condition, reason         string
		completedIndexes          string
		expire                    bool
	}
	tests := []struct {
		name   string
		spec   func(*cluster.JobSpec)
		status *cluster.JobStatus
		pods   func(w *cluster.Workload) []*cluster.Pod
		now    time.Time
		want   want
	}{
		{name: "new job starts parallelism pods", spec: func(j *cluster.JobSpec) { j.Completions, j.Parallelism = ptrTo(int32(5)), 2 },
			want: want{create: []int{-1, -1}}},
		{name: "parallelism capped by remaining completions",
			spec: func(j *cluster.JobSpec) { j.Completions, j.Parallelism = ptrTo(int32(3)), 3 },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, -1, 0), jobPod(w, "b", cluster.PodSucceeded, -1, 0)}
			},
			want: want{create: []int{-1}, succeeded: 2}},
		{name: "completions reached",
			spec: func(j *cluster.JobSpec) { j.Completions = ptrTo(int32(2)) },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, -1, 0), jobPod(w, "b", cluster.PodSucceeded, -1, 0)}
			},
			want: want{succeeded: 2, condition: cluster.JobComplete, reason: cluster.ReasonCompletionsReached}},
		{name: "work queue waits for its running pods",
			spec: func(j *cluster.JobSpec) { j.Parallelism = 2 },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, -1, 0), jobPod(w, "b", cluster.PodRunning, -1, 0)}
			},
			want: want{succeeded: 1, active: 1}},
		{name: "failure waits out the back-off",
			status: &cluster.JobStatus{StartTime: &t0, Failed: 1, LastFailure: &t0},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 1)}
			},
			now:  t0.Add(9 * time.Second),
			want: want{failed: 1}},
		{name: "retry after the back-off",
			status: &cluster.JobStatus{StartTime: &t0, Failed: 1, LastFailure: &t0},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 1)}
			},
			now:  t0.Add(10 * time.Second),
			want: want{failed: 1, create: []int{-1}}},
		{name: "second failure doubles the back-off",
			status: &cluster.JobStatus{StartTime: &t0, Failed: 2, LastFailure: &t0},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 1), jobPod(w, "b", cluster.PodFailed, -1, 1)}
			},
			now:  t0.Add(19 * time.Second),
			want: want{failed: 2}},
		{name: "backoff limit exceeded stops the rest",
			spec: func(j *cluster.JobSpec) { j.BackoffLimit, j.Parallelism = 1, 2 },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 1), jobPod(w, "b", cluster.PodFailed, -1, 1), jobPod(w, "c", cluster.PodRunning, -1, 0)}
			},
			want: want{failed: 2, stop: 1, condition: cluster.JobFailed, reason: cluster.ReasonBackoffLimit}},
		{name: "OnFailure restarts count as failures",
			spec: func(j *cluster.JobSpec) { j.BackoffLimit = 2 },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				p := jobPod(w, "a", cluster.PodRunning, -1, 0)
				p.Spec.RestartPolicy = cluster.RestartOnFailure
				p.Status.Containers = []cluster.ContainerStatus{{Name: "main", RestartCount: 3}}
				return []*cluster.Pod{p}
			},
			want: want{failed: 3, stop: 1, condition: cluster.JobFailed, reason: cluster.ReasonBackoffLimit}},
		{name: "deadline exceeded",
			spec:   func(j *cluster.JobSpec) { j.ActiveDeadlineSeconds = ptrTo(int64(60)) },
			status: &cluster.JobStatus{StartTime: &t0},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodRunning, -1, 0)}
			},
			now:  t1,
			want: want{stop: 1, condition: cluster.JobFailed, reason: cluster.ReasonDeadlineExceeded}},
		{name: "indexed starts the missing indexes",
			spec: func(j *cluster.JobSpec) {
				j.Completions, j.Parallelism, j.CompletionMode = ptrTo(int32(4)), 3, cluster.CompletionIndexed
			},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, 0, 0), jobPod(w, "b", cluster.PodRunning, 2, 0)}
			},
			want: want{create: []int{1, 3}, succeeded: 1, active: 1, completedIndexes: "0"}},
		{name: "indexed completes when every index succeeded",
			spec: func(j *cluster.JobSpec) {
				j.Completions, j.Parallelism, j.CompletionMode = ptrTo(int32(3)), 3, cluster.CompletionIndexed
			},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, 0, 0), jobPod(w, "b", cluster.PodSucceeded, 1, 0),
					jobPod(w, "c", cluster.PodSucceeded, 2, 0)}
			},
			want: want{succeeded: 3, completedIndexes: "0-2", condition: cluster.JobComplete, reason: cluster.ReasonCompletionsReached}},
		{name: "failure policy FailJob",
			spec: func(j *cluster.JobSpec) {
				j.PodFailurePolicy = []cluster.PodFailureRule{{Action: cluster.FailureFailJob, Operator: "In", Values: []int32{42}}}
			},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 42)}
			},
			want: want{failed: 1, condition: cluster.JobFailed, reason: cluster.ReasonPodFailurePolicy}},
		{name: "failure policy Ignore retries at once, uncounted",
			spec: func(j *cluster.JobSpec) {
				j.BackoffLimit = 0
				j.PodFailurePolicy = []cluster.PodFailureRule{{Action: cluster.FailureIgnore, Operator: "In", Values: []int32{137}}}
			},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 137)}
			},
			want: want{create: []int{-1}}},
		{name: "failure policy NotIn falls through to Count",
			spec: func(j *cluster.JobSpec) {
				j.BackoffLimit = 0
				j.PodFailurePolicy = []cluster.PodFailureRule{{Action: cluster.FailureIgnore, Operator: "NotIn", Values: []int32{1}}}
			},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodFailed, -1, 1)}
			},
			want: want{failed: 1, condition: cluster.JobFailed, reason: cluster.ReasonBackoffLimit}},
		{name: "ttl after finished",
			spec: func(j *cluster.JobSpec) { j.TTLSecondsAfterFinished = ptrTo(int32(30)) },
			status: &cluster.JobStatus{StartTime: &t0, Succeeded: 1, CompletionTime: &t0,
				Conditions: []cluster.JobCondition{{Type: cluster.JobComplete, Reason: cluster.ReasonCompletionsReached, LastTransitionTime: t0}}},
			pods: func(w *cluster.Workload) []*cluster.Pod {
				return []*cluster.Pod{jobPod(w, "a", cluster.PodSucceeded, -1, 0)}
			},
			now:  t0.Add(30 * time.Second),
			want: want{succeeded: 1, condition: cluster.JobComplete, reason: cluster.ReasonCompletionsReached, expire: true}},
		{name: "pod on a lost node is replaced, not counted",
			spec: func(j *cluster.JobSpec) { j.Completions = ptrTo(int32(1)) },
			pods: func(w *cluster.Workload) []*cluster.Pod {
				p := jobPod(w, "a", cluster.PodRunning, -1, 0)
				p.NodeName = "gone"
				return []*cluster.Pod{p}
			},
			want: want{stop: 1, create: []int{-1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mkJob(tt.spec)
			w.JobStatus = tt.status
			var pods []*cluster.Pod
			if tt.pods != nil {
				pods = tt.pods(w)
			}
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			lost := func(p *cluster.Pod) bool { return p.NodeName == "gone" }
			d := decideJob(w, pods, lost, now, DefaultJobBackoff)
			s := d.status
			if !slices.Equal(d.create, tt.want.create) || len(d.stop) != tt.want.stop || d.expire != tt.want.expire {
				t.Errorf("create %v stop %d expire %v, want %v %d %v", d.create, len(d.stop), d.expire, tt.want.create, tt.want.stop, tt.want.expire)
			}
			// Pods created in this pass count as active at once.
			if s.Active != tt.want.active+int32(len(tt.want.create)) || s.Succeeded != tt.want.succeeded || s.Failed != tt.want.failed || s.CompletedIndexes != tt.want.completedIndexes {
				t.Errorf("status %+v, want %+v", s, tt.want)
			}
			c, _ := s.Finished()
			if c.Type != tt.want.condition || c.Reason != tt.want.reason {
				t.Errorf("condition %s/%s, want %s/%s", c.Type, c.Reason, tt.want.condition, tt.want.reason)
			}
			if s.StartTime == nil {
				t.Error("no start time")
			}
		})
	}
}

func TestJobBackoff(t *testing.T) {
	for _, tt := range []struct {
		failed int32
		want   time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {6, 320 * time.Second}, {7, 6 * time.Minute}, {40, 6 * time.Minute}} {
		if got := jobBackoff(DefaultJobBackoff, tt.failed); got != tt.want {
			t.Errorf("jobBackoff(%d) = %v, want %v", tt.failed, got, tt.want)
		}
	}
}

func TestFormatIndexes(t *testing.T) {
	for _, tt := range []struct {
		in   []int
		want string
	}{{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"}} {
		m := map[int]bool{}
		for _, i := range tt.in {
			m[i] = true
		}
		if got := formatIndexes(m); got != tt.want {
			t.Errorf("formatIndexes(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestJobPass runs an Indexed Job through Compute: pods are named and
// indexed as Kubernetes does, and the status lands in the plan.
func TestJobPass(t *testing.T) {
	w := mkJob(func(j *cluster.JobSpec) {
		j.Completions, j.Parallelism, j.CompletionMode = ptrTo(int32(2)), 2, cluster.CompletionIndexed
	})
	st := mkState([]*cluster.Node{mkNode("n1", 4000, 4*gi)}, []*cluster.Workload{w})
	plan := Compute(st, t0, NewRandIDs(1, 2))
	if len(plan.Create) != 2 || len(plan.Jobs) != 1 {
		t.Fatalf("plan creates %d pods, %d job statuses; want 2, 1", len(plan.Create), len(plan.Jobs))
	}
	for i, p := range plan.Create {
		idx := strconv.Itoa(i)
		if p.Annotations[cluster.JobCompletionIndexAnnotation] != idx || p.Spec.Hostname != "job-"+idx || p.Labels[cluster.JobNameLabel] != "job" {
			t.Errorf("pod %s: annotations %v hostname %q labels %v", p.Name, p.Annotations, p.Spec.Hostname, p.Labels)
		}
		if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0] != (cluster.EnvVar{Name: "JOB_COMPLETION_INDEX", Value: idx}) {
			t.Errorf("pod %s env %v", p.Name, env)
		}
		if len(p.Name) != len("job-0-")+5 || p.Name[:6] != "job-"+idx+"-" {
			t.Errorf("pod name %q", p.Name)
		}
	}
	if w.Template.Containers[0].Env != nil {
		t.Error("the template was modified")
	}
	st = apply(t, st, plan)
	// Applied, the next pass changes nothing: the status is stable.
	if plan := Compute(st, t0.Add(time.Second), NewRandIDs(3, 4)); len(plan.Jobs) != 0 || len(plan.Create) != 0 {
		t.Errorf("second pass: %d statuses, %d pods", len(plan.Jobs), len(plan.Create))
	}
}
