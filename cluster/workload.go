package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// WorkloadKind is Deployment, StatefulSet, DaemonSet or ReplicaSet.
type WorkloadKind string

// Workload kinds (and the owner kind of bare pods).
const (
	KindDeployment  WorkloadKind = "Deployment"
	KindStatefulSet WorkloadKind = "StatefulSet"
	KindDaemonSet   WorkloadKind = "DaemonSet"
	KindReplicaSet  WorkloadKind = "ReplicaSet"
)

// Workload is a Deployment or a StatefulSet: a number of pods made from one
// template.
type Workload struct {
	Kind        WorkloadKind      `json:"kind"`
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	UID         string            `json:"uid"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Replicas    int32             `json:"replicas"`
	// Selector picks the workload's pods by label (matchLabels).
	Selector       map[string]string `json:"selector"`
	TemplateLabels map[string]string `json:"templateLabels,omitempty"`
	// TemplateAnnotations are the pod template's annotations, copied to
	// every pod; changing them is a new template (a rollout), as in
	// Kubernetes.
	TemplateAnnotations map[string]string `json:"templateAnnotations,omitempty"`
	Template            PodSpec           `json:"template"`

	// Strategy: RollingUpdate (with MaxSurge/MaxUnavailable, each an int or
	// a percentage as Kubernetes writes it; defaults 25%/25%, a DaemonSet's
	// 0/1) or Recreate; a DaemonSet's RollingUpdate or OnDelete.
	Strategy       string `json:"strategy,omitempty"`
	MaxSurge       string `json:"maxSurge,omitempty"`
	MaxUnavailable string `json:"maxUnavailable,omitempty"`
	// MinReadySeconds: a pod counts as available only once it has been
	// ready this long (Deployment, StatefulSet, DaemonSet, ReplicaSet; see
	// available.go).
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`

	// StatefulSet only.
	ServiceName          string        `json:"serviceName,omitempty"`
	VolumeClaimTemplates []ClaimSource `json:"volumeClaimTemplates,omitempty"`
	// PodManagementPolicy is OrderedReady (default) or Parallel.
	PodManagementPolicy string `json:"podManagementPolicy,omitempty"`

	// Job only: its spec, and the status the leader keeps (see JobStatus).
	Job       *JobSpec   `json:"job,omitempty"`
	JobStatus *JobStatus `json:"jobStatus,omitempty"`
	// CronJob only: its spec and the leader's record of its runs.
	Cron       *CronJobSpec   `json:"cron,omitempty"`
	CronStatus *CronJobStatus `json:"cronStatus,omitempty"`
	// Owner is the CronJob that made this Job, nil otherwise.
	Owner *OwnerRef `json:"owner,omitempty"`

	// Generation counts changes to the spec; TemplateHash identifies the
	// current pod template (see TemplateID).
	Generation   int64  `json:"generation"`
	TemplateHash string `json:"templateHash"`
	// RevisionHistoryLimit is how many previous templates are kept for
	// `rollout undo` (nil: DefaultRevisionHistoryLimit; 0 keeps none).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Revision numbers the current template (1 for the first, 0 for a
	// workload stored before revisions were counted), and History holds
	// the previous ones, oldest first. The FSM keeps both (see
	// TakeHistory): what a client sends in them is ignored.
	Revision int64              `json:"revision,omitempty"`
	History  []TemplateRevision `json:"history,omitempty"`
	// PreviousTemplate is what agents before revision history kept: the
	// template before the last rollout. It is read as one revision of
	// History and never written again.
	PreviousTemplate *PodSpec `json:"previousTemplate,omitempty"`

	CreateIndex uint64    `json:"createIndex,omitempty"`
	ModifyIndex uint64    `json:"modifyIndex,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Key is the workload's identity: "Kind/namespace/name".
func (w *Workload) Key() string { return WorkloadKey(w.Kind, w.Namespace, w.Name) }

// WorkloadKey builds a workload's key.
func WorkloadKey(kind WorkloadKind, namespace, name string) string {
	return string(kind) + "/" + namespace + "/" + name
}

// Clone returns a deep copy of w.
func (w *Workload) Clone() *Workload {
	c := *w
	c.Labels = cloneMap(w.Labels)
	c.Annotations = cloneMap(w.Annotations)
	c.Selector = cloneMap(w.Selector)
	c.TemplateLabels = cloneMap(w.TemplateLabels)
	c.TemplateAnnotations = cloneMap(w.TemplateAnnotations)
	c.Template = w.Template.Clone()
	c.Job = w.Job.Clone()
	c.JobStatus = w.JobStatus.Clone()
	c.Cron = w.Cron.Clone()
	c.CronStatus = w.CronStatus.Clone()
	if w.Owner != nil {
		o := *w.Owner
		c.Owner = &o
	}
	if w.RevisionHistoryLimit != nil {
		l := *w.RevisionHistoryLimit
		c.RevisionHistoryLimit = &l
	}
	if w.History != nil {
		c.History = make([]TemplateRevision, len(w.History))
		for i, h := range w.History {
			c.History[i] = h.Clone()
		}
	}
	c.VolumeClaimTemplates = slices.Clone(w.VolumeClaimTemplates)
	for i := range c.VolumeClaimTemplates {
		c.VolumeClaimTemplates[i].Labels = cloneMap(w.VolumeClaimTemplates[i].Labels)
		c.VolumeClaimTemplates[i].Annotations = cloneMap(w.VolumeClaimTemplates[i].Annotations)
	}
	if w.PreviousTemplate != nil {
		p := w.PreviousTemplate.Clone()
		c.PreviousTemplate = &p
	}
	return &c
}

// HashTemplate identifies a pod template and its labels: two workloads with
// the same hash make identical pods. A workload's template also has
// annotations: use its TemplateID.
func HashTemplate(spec PodSpec, labels map[string]string) string {
	return hashTemplate(spec, labels, nil)
}

// TemplateID is the hash of the workload's pod template: spec, labels and
// annotations.
func (w *Workload) TemplateID() string {
	return hashTemplate(w.Template, w.TemplateLabels, w.TemplateAnnotations)
}

func hashTemplate(spec PodSpec, labels, annotations map[string]string) string {
	// encoding/json sorts map keys, so the encoding is canonical; without
	// annotations it is what it was before they were hashed, so a stored
	// workload keeps its hash (and its pods are not replaced).
	b, err := json.Marshal(struct {
		S PodSpec
		L map[string]string
		A map[string]string `json:",omitempty"`
	}{spec, labels, annotations})
	if err != nil {
		panic("cluster: hash template: " + err.Error()) // plain data always encodes
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}
