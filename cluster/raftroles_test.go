package cluster

import "testing"

func TestCountRaftRoles(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		roles                     []string
		voters, replicas, clients int
	}{
		{"one agent", []string{"leader"}, 1, 0, 0},
		{"5 agents", []string{"voter", "leader", "nonvoter", "voter", "nonvoter"}, 3, 2, 0},
		{"clients past the cap", []string{"leader", "voter", "voter", "nonvoter", "client", "client", "voter", "voter", "nonvoter", "client"}, 5, 2, 3},
		{"an unknown role counts nowhere", []string{"leader", "learner"}, 1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, r, c := CountRaftRoles(tc.roles...)
			if v != tc.voters || r != tc.replicas || c != tc.clients {
				t.Fatalf("CountRaftRoles(%v) = %d/%d/%d, want %d/%d/%d", tc.roles, v, r, c, tc.voters, tc.replicas, tc.clients)
			}
		})
	}
}
