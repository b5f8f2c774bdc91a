package cluster

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultRevisionHistoryLimit is Kubernetes' default for
// spec.revisionHistoryLimit: how many previous templates are kept.
const DefaultRevisionHistoryLimit = 10

// ChangeCauseAnnotation is the workload annotation whose value `rollout
// history` shows for a revision, as kubectl does.
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// TemplateRevision is one pod template a workload ran, for `rollout
// history` and `rollout undo`.
type TemplateRevision struct {
	Revision    int64             `json:"revision"`
	Hash        string            `json:"hash"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Template    PodSpec           `json:"template"`
	// ChangeCause is the workload's kubernetes.io/change-cause annotation
	// while this revision was current.
	ChangeCause string `json:"changeCause,omitempty"`
}

// Clone returns a deep copy of r.
func (r TemplateRevision) Clone() TemplateRevision {
	c := r
	c.Labels = cloneMap(r.Labels)
	c.Annotations = cloneMap(r.Annotations)
	c.Template = r.Template.Clone()
	return c
}

// HistoryLimit is the number of previous templates the workload keeps.
func (w *Workload) HistoryLimit() int {
	if w.RevisionHistoryLimit == nil {
		return DefaultRevisionHistoryLimit
	}
	return max(int(*w.RevisionHistoryLimit), 0)
}

// CurrentRevision is the workload's current template as a revision.
func (w *Workload) CurrentRevision() TemplateRevision {
	return TemplateRevision{
		Revision: w.revision(), Hash: w.TemplateID(),
		Labels: cloneMap(w.TemplateLabels), Annotations: cloneMap(w.TemplateAnnotations),
		Template: w.Template.Clone(), ChangeCause: w.Annotations[ChangeCauseAnnotation],
	}
}

// revision is the current template's number; a workload stored before
// revisions were counted is numbered from its PreviousTemplate.
func (w *Workload) revision() int64 {
	switch {
	case w.Revision > 0:
		return w.Revision
	case w.PreviousTemplate != nil:
		return 2
	}
	return 1
}

// Revisions are the previous templates, oldest first: History, or for a
// workload stored before revisions were counted, its PreviousTemplate.
func (w *Workload) Revisions() []TemplateRevision {
	if w.Revision > 0 || w.PreviousTemplate == nil {
		return w.History
	}
	prev := TemplateRevision{Revision: 1, Labels: cloneMap(w.TemplateLabels), Template: w.PreviousTemplate.Clone()}
	prev.Hash = hashTemplate(prev.Template, prev.Labels, nil)
	return []TemplateRevision{prev}
}

// TakeHistory sets w's revision and history as the successor of old (nil
// for a new workload), the way Kubernetes numbers a Deployment's
// ReplicaSets: a new template gets the next revision number and the one it
// replaces joins the history; a template equal to one in the history
// takes it out of the history (`rollout undo`, or re-applying an old
// manifest), under a new number. The history is then cut to w's limit,
// oldest first. w.TemplateHash must be set.
func (w *Workload) TakeHistory(old *Workload) {
	w.PreviousTemplate = nil
	if old == nil {
		w.Revision, w.History = 1, nil
		return
	}
	history := old.Revisions()
	w.Revision = old.revision()
	if old.TemplateHash != w.TemplateHash {
		next := w.Revision
		for _, h := range history {
			next = max(next, h.Revision)
		}
		kept := make([]TemplateRevision, 0, len(history)+1)
		for _, h := range history {
			if h.Hash != w.TemplateHash {
				kept = append(kept, h.Clone())
			}
		}
		history = append(kept, old.CurrentRevision())
		w.Revision = next + 1
	} else {
		kept := make([]TemplateRevision, len(history))
		for i, h := range history {
			kept[i] = h.Clone()
		}
		history = kept
	}
	if n := w.HistoryLimit(); len(history) > n {
		history = history[len(history)-n:]
	}
	if len(history) == 0 {
		history = nil
	}
	w.History = history
}

// RollbackTarget picks the revision `rollout undo` returns to: toRevision,
// or for 0 the newest previous one. current says toRevision is the
// current revision already (nothing to do).
func (w *Workload) RollbackTarget(toRevision int64) (rev TemplateRevision, current bool, err error) {
	revs := w.Revisions()
	if toRevision != 0 && toRevision == w.revision() {
		return w.CurrentRevision(), true, nil
	}
	if len(revs) == 0 {
		if w.HistoryLimit() == 0 {
			return rev, false, fmt.Errorf("no rollout history: spec.revisionHistoryLimit is 0, so %s %s keeps no previous template to roll back to", w.Kind, w.Name)
		}
		return rev, false, fmt.Errorf("no rollout history: %s %s has had only its current template (revision %d)", w.Kind, w.Name, w.revision())
	}
	if toRevision == 0 {
		return revs[len(revs)-1].Clone(), false, nil
	}
	var have []string
	for _, r := range revs {
		if r.Revision == toRevision {
			return r.Clone(), false, nil
		}
		have = append(have, strconv.FormatInt(r.Revision, 10))
	}
	return rev, false, fmt.Errorf("revision %d not found in the history of %s %s (kept: %s; current: %d)",
		toRevision, w.Kind, w.Name, strings.Join(have, ", "), w.revision())
}

// CurrentRevisionNumber is the current template's revision number.
func (w *Workload) CurrentRevisionNumber() int64 { return w.revision() }
