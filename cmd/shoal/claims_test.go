package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/cluster"
)

// TestClaimTableAndDescribe: `get pvc` and `describe pvc` show the phase
// (Terminating while deletion waits), the bound node and the users.
func TestClaimTableAndDescribe(t *testing.T) {
	local := "local"
	claim := func(terminating bool) *cluster.Object {
		return &cluster.Object{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: "data",
			Claim: &cluster.VolumeClaim{AccessModes: []string{cluster.AccessReadWriteOncePod}, Storage: 2 << 30,
				StorageClassName: &local, Terminating: terminating}}
	}
	tests := []struct {
		name      string
		v         api.ObjectView
		row       []string
		describes []string
	}{
		{"pending", api.ObjectView{Object: claim(false), Claim: &cluster.ClaimStatus{Phase: cluster.ClaimPending}},
			[]string{"data", "Pending", "<none>", "2Gi", "RWOP", "local"},
			[]string{"Status:        Pending\n", "Node:          <none>\n", "Used By:       <none>\n"}},
		{"bound", api.ObjectView{Object: claim(false), Claim: &cluster.ClaimStatus{Phase: cluster.ClaimBound, Node: "n2", UsedBy: []string{"web-1"}}},
			[]string{"data", "Bound", "n2", "2Gi", "RWOP", "local"},
			[]string{"Status:        Bound\n", "Node:          n2\n", "Used By:       web-1\n"}},
		{"terminating", api.ObjectView{Object: claim(true), Claim: &cluster.ClaimStatus{Phase: cluster.ClaimBound, Node: "n2", UsedBy: []string{"web-1"}}},
			[]string{"data", "Terminating", "n2", "2Gi", "RWOP", "local"},
			[]string{"Status:        Terminating\n", "Finalizers:    [kubernetes.io/pvc-protection]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := objectTable(cluster.KindPersistentVolumeClaim, []api.ObjectView{tt.v}, false, time.Now())
			wantHeader := []string{"NAME", "STATUS", "NODE", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"}
			if !slices.Equal(tab.header, wantHeader) || len(tab.rows) != 1 || !slices.Equal(tab.rows[0][:6], tt.row) {
				t.Errorf("table %q %q, want a row %q", tab.header, tab.rows, tt.row)
			}
			var b bytes.Buffer
			if err := describeObject(&b, tt.v, time.Now()); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.describes {
				if !strings.Contains(b.String(), want) {
					t.Errorf("describe lacks %q:\n%s", want, b.String())
				}
			}
		})
	}
}
