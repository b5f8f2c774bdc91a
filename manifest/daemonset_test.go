package manifest

import (
	"strings"
	"testing"

	"shoal/cluster"
)

const daemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      containers:
      - name: agent
        image: busybox:1.36
`

func TestDaemonSetDecode(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		check    func(*cluster.Workload) string // "" when right
		want     string                         // the error, when one is expected
	}{
		{name: "defaults", check: func(w *cluster.Workload) string {
			if w.Kind != cluster.KindDaemonSet || w.Strategy != "RollingUpdate" || w.MaxSurge != "0" || w.MaxUnavailable != "1" ||
				w.Replicas != 0 || *w.RevisionHistoryLimit != cluster.DefaultRevisionHistoryLimit || w.TemplateHash != w.TemplateID() {
				return "wrong defaults"
			}
			return ""
		}},
		{name: "OnDelete", old: "spec:\n  selector", new: "spec:\n  updateStrategy: {type: OnDelete}\n  selector",
			check: func(w *cluster.Workload) string {
				if w.Strategy != "OnDelete" || w.MaxSurge != "" || w.MaxUnavailable != "" {
					return "strategy " + w.Strategy
				}
				return ""
			}},
		{name: "surge", old: "spec:\n  selector", new: "spec:\n  updateStrategy: {rollingUpdate: {maxSurge: 10%, maxUnavailable: 0}}\n  selector",
			check: func(w *cluster.Workload) string {
				if w.MaxSurge != "10%" || w.MaxUnavailable != "0" {
					return "limits " + w.MaxSurge + " " + w.MaxUnavailable
				}
				return ""
			}},
		{name: "both zero", old: "spec:\n  selector", new: "spec:\n  updateStrategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n  selector",
			want: `ds.yaml: document 1 (DaemonSet "agent", line 6): spec.updateStrategy.rollingUpdate: maxSurge and maxUnavailable may not both be 0: the rollout could never progress`},
		{name: "unknown strategy", old: "spec:\n  selector", new: "spec:\n  updateStrategy: {type: Sideways}\n  selector",
			want: `ds.yaml: document 1 (DaemonSet "agent", line 6): spec.updateStrategy.type: "Sideways" is not supported (RollingUpdate or OnDelete)`},
		{name: "OnDelete with rollingUpdate", old: "spec:\n  selector", new: "spec:\n  updateStrategy: {type: OnDelete, rollingUpdate: {maxSurge: 1}}\n  selector",
			want: `ds.yaml: document 1 (DaemonSet "agent", line 6): spec.updateStrategy.rollingUpdate: may not be set when spec.updateStrategy.type is OnDelete`},
		{name: "replicas is no DaemonSet field", old: "spec:\n  selector", new: "spec:\n  replicas: 3\n  selector",
			want: `ds.yaml: document 1 (DaemonSet "agent", line 6): spec.replicas: unknown field`},
		{name: "selector required", old: "  selector:\n    matchLabels:\n      app: agent\n", new: "",
			want: `ds.yaml: document 1 (DaemonSet "agent", line 5): spec.selector.matchLabels: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(daemonSet, tt.old) {
				t.Fatalf("bad test: %q not in the manifest", tt.old)
			}
			objs, err := Decode([]byte(strings.Replace(daemonSet, tt.old, tt.new, 1)), "ds.yaml")
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 || objs[0].Workload == nil {
				t.Fatalf("objects %+v", objs)
			}
			if msg := tt.check(objs[0].Workload); msg != "" {
				t.Errorf("%s: %+v", msg, objs[0].Workload)
			}
		})
	}
}

func TestDaemonSetStatus(t *testing.T) {
	objs, err := Decode([]byte(daemonSet), "ds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := objs[0].Workload
	w.UID = "u1"
	d := DaemonSetToK8s(w, cluster.DaemonCounts{Desired: 3, Current: 2, Ready: 2, Updated: 1, Available: 1})
	s := d.Status
	if s.DesiredNumberScheduled != 3 || s.CurrentNumberScheduled != 2 || s.NumberReady != 2 || s.UpdatedNumberScheduled != 1 ||
		s.NumberAvailable != 1 || s.NumberUnavailable != 2 {
		t.Errorf("status %+v", s)
	}
	if d.Spec.UpdateStrategy.RollingUpdate == nil || d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.String() != "1" {
		t.Errorf("strategy %+v", d.Spec.UpdateStrategy)
	}
}

func TestReplicaSetDecode(t *testing.T) {
	const rs = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: frontend
spec:
  replicas: 3
  selector:
    matchLabels: {tier: frontend}
  template:
    metadata:
      labels: {tier: frontend}
    spec:
      containers:
      - name: app
        image: busybox:1.36
`
	objs, err := Decode([]byte(rs), "rs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := objs[0].Workload
	if w.Kind != cluster.KindReplicaSet || w.Replicas != 3 || w.TemplateHash != w.TemplateID() || *w.RevisionHistoryLimit != 0 {
		t.Errorf("workload %+v", w)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"replicas: 3", "replicas: -1", `rs.yaml: document 1 (ReplicaSet "frontend", line 6): spec.replicas: -1 must be 0 or more`},
		{"replicas: 3", "replicas: 3\n  minReadySeconds: -5", `rs.yaml: document 1 (ReplicaSet "frontend", line 7): spec.minReadySeconds: -5 must be 0 or more`},
		{"labels: {tier: frontend}", "labels: {tier: backend}", `rs.yaml: document 1 (ReplicaSet "frontend", line 11): spec.template.metadata.labels: do not match spec.selector.matchLabels map[tier:frontend]: the workload would never find its pods`},
	} {
		_, err := Decode([]byte(strings.Replace(rs, tc.old, tc.new, 1)), "rs.yaml")
		if err == nil || err.Error() != tc.want {
			t.Errorf("error:\n got %v\nwant %s", err, tc.want)
		}
	}
}
