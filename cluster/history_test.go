package cluster

import (
	"slices"
	"testing"
)

// revs lists a workload's history as revision:image pairs, then the
// current one.
func revs(w *Workload) []string {
	var out []string
	for _, h := range w.Revisions() {
		out = append(out, itoa(int(h.Revision))+":"+h.Template.Containers[0].Image)
	}
	return append(out, "current "+itoa(int(w.revision()))+":"+w.Template.Containers[0].Image)
}

func TestTakeHistory(t *testing.T) {
	limit := func(n int32) *int32 { return &n }
	put := func(old *Workload, image string, l *int32) *Workload {
		w := &Workload{Name: "web", TemplateLabels: map[string]string{"app": "web"}, RevisionHistoryLimit: l,
			Template: PodSpec{Containers: []Container{{Name: "c", Image: image}}}}
		w.TemplateHash = w.TemplateID()
		w.TakeHistory(old)
		return w
	}
	apply := func(l *int32, images ...string) *Workload {
		var w *Workload
		for _, im := range images {
			w = put(w, im, l)
		}
		return w
	}
	tests := []struct {
		name string
		w    *Workload
		want []string
	}{
		{"new", apply(nil, "a"), []string{"current 1:a"}},
		{"same template keeps the revision", apply(nil, "a", "a"), []string{"current 1:a"}},
		{"each new template is a revision", apply(nil, "a", "b", "c"), []string{"1:a", "2:b", "current 3:c"}},
		{"an old template comes back under a new number", apply(nil, "a", "b", "c", "a"), []string{"2:b", "3:c", "current 4:a"}},
		{"limit keeps the newest", apply(limit(2), "a", "b", "c", "d"), []string{"2:b", "3:c", "current 4:d"}},
		{"limit 0 keeps none", apply(limit(0), "a", "b"), []string{"current 2:b"}},
		{"default limit is 10", apply(nil, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"),
			[]string{"3:c", "4:d", "5:e", "6:f", "7:g", "8:h", "9:i", "10:j", "11:k", "12:l", "current 13:m"}},
		{"a lower limit cuts at once", put(apply(nil, "a", "b", "c"), "c", limit(1)), []string{"2:b", "current 3:c"}},
		{"a workload stored before revisions", put(&Workload{
			Template: PodSpec{Containers: []Container{{Name: "c", Image: "b"}}}, TemplateLabels: map[string]string{"app": "web"},
			TemplateHash:     "old",
			PreviousTemplate: &PodSpec{Containers: []Container{{Name: "c", Image: "a"}}},
		}, "c", nil), []string{"1:a", "2:b", "current 3:c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := revs(tt.w); !slices.Equal(got, tt.want) {
				t.Errorf("revisions %v, want %v", got, tt.want)
			}
			if tt.w.PreviousTemplate != nil {
				t.Errorf("PreviousTemplate still set")
			}
		})
	}
}

func TestTemplateIDCoversAnnotations(t *testing.T) {
	w := &Workload{TemplateLabels: map[string]string{"app": "web"}, Template: PodSpec{Containers: []Container{{Name: "c", Image: "a"}}}}
	if w.TemplateID() != HashTemplate(w.Template, w.TemplateLabels) {
		t.Error("a template without annotations changed its hash")
	}
	before := w.TemplateID()
	w.TemplateAnnotations = map[string]string{"restartedAt": "now"}
	if w.TemplateID() == before {
		t.Error("annotations do not change the template's hash")
	}
}

func TestRollbackTarget(t *testing.T) {
	limit0 := int32(0)
	mk := func(l *int32, images ...string) *Workload {
		var w *Workload
		for _, im := range images {
			n := &Workload{Kind: KindDeployment, Name: "web", RevisionHistoryLimit: l,
				Template: PodSpec{Containers: []Container{{Name: "c", Image: im}}}}
			n.TemplateHash = n.TemplateID()
			n.TakeHistory(w)
			w = n
		}
		return w
	}
	tests := []struct {
		name    string
		w       *Workload
		to      int64
		want    string // image of the target
		current bool
		wantErr string
	}{
		{name: "previous", w: mk(nil, "a", "b", "c"), want: "b"},
		{name: "to a revision", w: mk(nil, "a", "b", "c"), to: 1, want: "a"},
		{name: "to the current one", w: mk(nil, "a", "b", "c"), to: 3, want: "c", current: true},
		{name: "unknown revision", w: mk(nil, "a", "b", "c"), to: 7,
			wantErr: "revision 7 not found in the history of Deployment web (kept: 1, 2; current: 3)"},
		{name: "limit 0", w: mk(&limit0, "a", "b"),
			wantErr: "no rollout history: spec.revisionHistoryLimit is 0, so Deployment web keeps no previous template to roll back to"},
		{name: "first revision", w: mk(nil, "a"),
			wantErr: "no rollout history: Deployment web has had only its current template (revision 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, current, err := tt.w.RollbackTarget(tt.to)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || current != tt.current || rev.Template.Containers[0].Image != tt.want {
				t.Errorf("got %q current=%v err=%v, want %q current=%v", rev.Template.Containers[0].Image, current, err, tt.want, tt.current)
			}
		})
	}
}
