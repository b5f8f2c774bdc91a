package main

import (
	"bytes"
	"strings"
	"testing"

	"shoal/cluster"
)

func TestDescribePodResizeConditions(t *testing.T) {
	tests := []struct {
		name string
		edit func(*cluster.Pod)
		want []string
	}{
		{"none", func(*cluster.Pod) {}, nil},
		{"pending", func(p *cluster.Pod) {
			p.ResizePending = &cluster.ResizePending{Reason: cluster.ResizeDeferred, Message: "Node didn't have enough resource: cpu"}
		}, []string{"PodResizePending: Deferred: Node didn't have enough resource: cpu"}},
		{"in progress with an error", func(p *cluster.Pod) { p.Status.Resizing, p.Status.ResizeMessage = true, "below current usage" },
			[]string{"PodResizeInProgress: Error: below current usage"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &cluster.Pod{Namespace: "default", Name: "p", NodeName: "n1",
				Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "i"}}}}
			tc.edit(p)
			var b bytes.Buffer
			if err := describePod(&b, p); err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(b.String(), "PodResize"); got != len(tc.want) {
				t.Errorf("%d resize conditions in:\n%s", got, b.String())
			}
			flat := strings.Join(strings.Fields(b.String()), " ")
			for _, w := range tc.want {
				if !strings.Contains(flat, w) {
					t.Errorf("missing %q in:\n%s", w, b.String())
				}
			}
		})
	}
}
