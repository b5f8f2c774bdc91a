package cluster

import (
	"reflect"
	"testing"
)

func TestClaimUse(t *testing.T) {
	claimPod := func(name, node string, phase PodPhase, edit ...func(*Pod)) *Pod {
		p := &Pod{Namespace: "default", Name: name, NodeName: node, Status: PodStatus{Phase: phase},
			Spec: PodSpec{Volumes: []Volume{
				{Name: "d", Claim: &ClaimSource{ClaimName: "data", Standalone: true}},
				{Name: "s", Claim: &ClaimSource{ClaimName: "data-db-0"}},
			}}}
		for _, e := range edit {
			e(p)
		}
		return p
	}
	tests := []struct {
		pod  *Pod
		uses bool
	}{
		{claimPod("running", "a", PodRunning), true},
		{claimPod("unplaced", "", PodPending), false},
		{claimPod("succeeded", "a", PodSucceeded), false},
		{claimPod("failed", "a", PodFailed), false},
		{claimPod("terminating", "a", PodRunning, func(p *Pod) { p.Terminating = true }), true},
		{claimPod("stopped", "a", PodRunning, func(p *Pod) { p.Terminating, p.Status.Stopped = true, true }), false},
	}
	var pods []*Pod
	for _, tt := range tests {
		if got := tt.pod.UsesClaim("data"); got != tt.uses {
			t.Errorf("%s: UsesClaim %t, want %t", tt.pod.Name, got, tt.uses)
		}
		// A StatefulSet claim is not a standalone one.
		if tt.pod.UsesClaim("data-db-0") {
			t.Errorf("%s uses the StatefulSet claim as a standalone one", tt.pod.Name)
		}
		pods = append(pods, tt.pod)
	}
	want := []string{"running", "terminating"}
	if got := ClaimStatusOf(nil, pods, "data"); !reflect.DeepEqual(got, ClaimStatus{Phase: ClaimPending, UsedBy: want}) {
		t.Errorf("unbound status %+v", got)
	}
	if got := ClaimStatusOf(&ClaimLocation{Node: "a"}, pods, "data"); got.Phase != ClaimBound || got.Node != "a" {
		t.Errorf("bound status %+v", got)
	}
}

func TestClaimDirName(t *testing.T) {
	tests := []struct {
		src  ClaimSource
		pod  string
		want string
	}{
		{ClaimSource{ClaimName: "data-db-0"}, "db-0", "data-db-0-db-0"},
		{ClaimSource{ClaimName: "data", Standalone: true}, "web-abcde", "pvc_data"},
		{ClaimSource{ClaimName: "data", Standalone: true}, "", "pvc_data"},
	}
	for _, tt := range tests {
		if got := tt.src.DirName(tt.pod); got != tt.want {
			t.Errorf("%+v for %s: %q, want %q", tt.src, tt.pod, got, tt.want)
		}
	}
}
