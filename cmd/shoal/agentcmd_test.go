package main

import (
	"strings"
	"testing"

	"shoal/agent"
)

func TestRaftReplicasFlag(t *testing.T) {
	if f := newAgentCmd(&globals{}).Flags().Lookup("raft-replicas-per-zone"); f == nil || f.DefValue != "2" {
		t.Fatalf("--raft-replicas-per-zone: flag %+v, want one defaulting to 2", f)
	}
	for _, tc := range []struct {
		flag    int
		want    int
		wantErr string
	}{
		{flag: 2, want: 2},
		{flag: 5, want: 5},
		{flag: 0, want: agent.NoRaftReplicas}, // voters only, not the agent's default
		{flag: -1, wantErr: "--raft-replicas-per-zone -1: expected 0 or more"},
	} {
		got, err := raftReplicas(tc.flag)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("raftReplicas(%d) = %d, %v; want error %q", tc.flag, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("raftReplicas(%d) = %d, %v; want %d", tc.flag, got, err, tc.want)
		}
	}
}
