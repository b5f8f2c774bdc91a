package cluster

import (
	"strings"
	"testing"
)

func TestCheckServiceCIDR(t *testing.T) {
	for _, tc := range []struct{ svc, pods, err string }{
		{"10.43.0.0/16", "10.88.0.0/16", ""},
		{"10.43.0.0/28", "10.88.0.0/16", ""},
		{"10.43.0.0/29", "10.88.0.0/16", "between /12 and /28"},
		{"10.0.0.0/8", "10.88.0.0/16", "between /12 and /28"},
		{"10.88.128.0/20", "10.88.0.0/16", "overlaps the cluster (pod) CIDR 10.88.0.0/16"},
		{"10.43.0.0/16", "10.0.0.0/8", "overlaps"},
		{"fd00::/112", "10.88.0.0/16", "must be IPv4"},
		{"10.43.0.0", "10.88.0.0/16", `service CIDR "10.43.0.0"`},
	} {
		err := CheckServiceCIDR(tc.svc, tc.pods)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s with pods %s: %v, want %q", tc.svc, tc.pods, err, tc.err)
		}
	}
}

func TestAssignClusterIP(t *testing.T) {
	others := []*Service{{Namespace: "default", Name: "x", ClusterIP: "10.43.0.5"}, {Namespace: "default", Name: "h", ClusterIP: ClusterIPNone}}
	for _, tc := range []struct {
		name    string
		svc     Service
		old     *Service
		want    string
		wantErr string
	}{
		{name: "headless", svc: Service{Name: "a", ClusterIP: ClusterIPNone}, want: ClusterIPNone},
		{name: "kept", svc: Service{Name: "a"}, old: &Service{Name: "a", ClusterIP: "10.43.0.9"}, want: "10.43.0.9"},
		{name: "given", svc: Service{Name: "a", ClusterIP: "10.43.0.6"}, want: "10.43.0.6"},
		{name: "given again", svc: Service{Name: "a", ClusterIP: "10.43.0.9"}, old: &Service{Name: "a", ClusterIP: "10.43.0.9"}, want: "10.43.0.9"},
		{name: "own old IP is not taken", svc: Service{Namespace: "default", Name: "x", ClusterIP: "10.43.0.5"}, want: "10.43.0.5"},
		{name: "changed", svc: Service{Name: "a", ClusterIP: "10.43.0.6"}, old: &Service{Name: "a", ClusterIP: "10.43.0.9"}, wantErr: "may not change from 10.43.0.9 to 10.43.0.6"},
		{name: "taken", svc: Service{Name: "a", ClusterIP: "10.43.0.5"}, wantErr: "spec.clusterIP: 10.43.0.5 is already used by service default/x"},
		{name: "network address", svc: Service{Name: "a", ClusterIP: "10.43.0.0"}, wantErr: "not a usable address"},
		{name: "headless before", svc: Service{Name: "a"}, old: &Service{Name: "a", ClusterIP: ClusterIPNone}, want: "allocated"},
	} {
		s := tc.svc
		err := AssignClusterIP(&s, tc.old, others, "10.43.0.0/16")
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "allocated":
			if !s.HasClusterIP() || s.ClusterIP == "10.43.0.5" || !strings.HasPrefix(s.ClusterIP, "10.43.") {
				t.Errorf("%s: got %q", tc.name, s.ClusterIP)
			}
		case s.ClusterIP != tc.want:
			t.Errorf("%s: got %q, want %q", tc.name, s.ClusterIP, tc.want)
		}
	}
	// Deterministic: the same services give the same IP.
	a, b := Service{Namespace: "ns", Name: "web"}, Service{Namespace: "ns", Name: "web"}
	_ = AssignClusterIP(&a, nil, others, "10.43.0.0/16")
	_ = AssignClusterIP(&b, nil, others, "10.43.0.0/16")
	if a.ClusterIP != b.ClusterIP {
		t.Errorf("two runs gave %s and %s", a.ClusterIP, b.ClusterIP)
	}
}
