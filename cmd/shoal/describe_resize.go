package main

import (
	"fmt"
	"io"

	"shoal/cluster"
)

// resizeConditions adds Kubernetes' resize conditions to describe pod's
// Conditions, when a resize waits for room or for its node.
func resizeConditions(w io.Writer, p *cluster.Pod) {
	if r := p.ResizePending; r != nil {
		fmt.Fprintf(w, "  PodResizePending:\t%s: %s\n", r.Reason, r.Message)
	}
	if p.Status.Resizing {
		msg := "applying"
		if p.Status.ResizeMessage != "" {
			msg = "Error: " + p.Status.ResizeMessage
		}
		fmt.Fprintf(w, "  PodResizeInProgress:\t%s\n", msg)
	}
}
