package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestGather(t *testing.T) {
	down := errors.New("connection refused")
	fetch := func(_ context.Context, node string) (Report, error) {
		if strings.HasPrefix(node, "down") {
			return Report{}, down
		}
		return Report{Node: "ignored", Pods: []PodUsage{{Name: "p-" + node}}}, nil
	}
	tests := []struct {
		nodes    []string
		want     []string
		wantErrs int
	}{
		{nodes: []string{"a", "b", "c"}, want: []string{"a", "b", "c"}},
		{nodes: []string{"a", "down1", "c", "down2"}, want: []string{"a", "c"}, wantErrs: 2},
		{nodes: nil},
	}
	for _, tt := range tests {
		got, err := Gather(context.Background(), tt.nodes, fetch)
		var names []string
		for _, r := range got {
			names = append(names, r.Node)
			if r.Pods[0].Name != "p-"+r.Node {
				t.Errorf("report of %s holds %v", r.Node, r.Pods)
			}
		}
		if strings.Join(names, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%v: got %v, want %v", tt.nodes, names, tt.want)
		}
		var ge *GatherError
		switch {
		case tt.wantErrs == 0 && err != nil:
			t.Errorf("%v: err %v", tt.nodes, err)
		case tt.wantErrs > 0 && (!errors.As(err, &ge) || len(ge.Errs) != tt.wantErrs || !errors.Is(err, down) || !strings.Contains(err.Error(), "node down1: connection refused")):
			t.Errorf("%v: err %v, want %d node errors", tt.nodes, err, tt.wantErrs)
		}
	}
}
