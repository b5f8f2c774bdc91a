package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"shoal/agent/api"
)

// printHistory prints a workload's revisions as `kubectl rollout history`
// does: oldest first, the current one last.
func printHistory(w io.Writer, name string, h *api.RolloutHistory) error {
	fmt.Fprintln(w, name)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, r := range h.Revisions {
		fmt.Fprintf(tw, "%d\t%s\n", r.Revision, dash(r.ChangeCause))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if h.Limit == 0 {
		_, err := fmt.Fprintln(w, "(spec.revisionHistoryLimit is 0: no previous revision is kept, so there is nothing to roll back to)")
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
