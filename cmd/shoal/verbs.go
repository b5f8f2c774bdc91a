package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/manifest"
)

func newDeleteCmd(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "delete -f FILE | KIND NAME | KIND/NAME",
		Short: "Delete objects",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			var resp *api.ApplyResponse
			var err error
			if len(files) > 0 {
				if len(args) > 0 {
					return fmt.Errorf("give either -f or KIND NAME, not both")
				}
				in, rerr := readFiles(files, cmd.InOrStdin())
				if rerr != nil {
					return rerr
				}
				resp, err = c.DeleteFiles(cmd.Context(), in)
			} else {
				r, name, perr := parseKindName(args)
				if perr != nil {
					return perr
				}
				if r.plural == "nodes" {
					return fmt.Errorf("nodes leave the cluster when their agent stops; use drain to empty one")
				}
				resp, err = c.Delete(cmd.Context(), r.plural, g.namespace, name)
			}
			if err != nil {
				return err
			}
			for _, r := range resp.Results {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "file, directory or - for stdin")
	return cmd
}

func newScaleCmd(g *globals) *cobra.Command {
	var replicas int32
	cmd := &cobra.Command{
		Use:   "scale KIND/NAME --replicas N",
		Short: "Set the number of replicas of a Deployment, StatefulSet or ReplicaSet",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			if !slices.Contains([]string{"deployments", "statefulsets", "replicasets"}, r.plural) {
				return fmt.Errorf("scale: %s cannot be scaled (deployments, statefulsets and replicasets can)", r.plural)
			}
			if replicas < 0 {
				return fmt.Errorf("--replicas: must be 0 or more, got %d", replicas)
			}
			if err := g.client().Scale(cmd.Context(), r.plural, g.namespace, name, replicas); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s scaled\n", r.group, name)
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", -1, "the new number of replicas")
	_ = cmd.MarkFlagRequired("replicas")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var container string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs POD|job/NAME [-c CONTAINER] [-f]",
		Short: "Print a container's log (of a Job's first pod for job/NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			pod, note, err := logsTarget(cmd.Context(), c, g.namespace, args[0])
			if err != nil {
				return err
			}
			if note != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), note)
			}
			return c.Logs(cmd.Context(), g.namespace, pod, container, follow, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "container (default: the pod's first)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the log grows")
	return cmd
}

func newExecCmd(g *globals) *cobra.Command {
	var container string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] -- CMD [ARG...]",
		Short: "Run a command in a container; exits with the command's exit code",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("usage: shoal exec POD [-c CONTAINER] -- CMD [ARG...]")
			}
			req := api.ExecRequest{Container: container, Command: args[1:]}
			if stdin {
				b, err := readAllStdin(cmd)
				if err != nil {
					return err
				}
				req.Stdin = b
			}
			code, err := g.client().Exec(cmd.Context(), g.namespace, args[0], req, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "container (default: the pod's first)")
	cmd.Flags().BoolVarP(&stdin, "stdin", "i", false, "pass stdin to the command")
	return cmd
}

func readAllStdin(cmd *cobra.Command) (string, error) {
	b, err := io.ReadAll(cmd.InOrStdin())
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	return string(b), nil
}

func newNodeActionCmd(g *globals, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " NODE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().NodeAction(cmd.Context(), args[0], action); err != nil {
				return err
			}
			past := map[string]string{"cordon": "cordoned", "uncordon": "uncordoned", "drain": "drained"}[action]
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", args[0], past)
			return nil
		},
	}
}

// drainRetry is how long drain waits before asking again for the pods a
// disruption budget kept (kubectl's interval).
const drainRetry = 5 * time.Second

func newDrainCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and evict its pods, as their PodDisruptionBudgets allow",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return drain(ctx, g.client(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to keep asking for the pods a disruption budget keeps")
	return cmd
}

func drain(ctx context.Context, c *apiclient.Client, node string, out, errOut io.Writer) error {
	cordoned := false
	for {
		res, err := c.Drain(ctx, node)
		if err != nil {
			return err
		}
		if !cordoned {
			fmt.Fprintf(out, "node/%s cordoned\n", node)
			if len(res.Ignored) > 0 {
				// kubectl's --ignore-daemonsets: their set would make them again.
				fmt.Fprintf(out, "Warning: ignoring DaemonSet-managed Pods: %s\n", strings.Join(res.Ignored, ", "))
			}
			cordoned = true
		}
		if len(res.Blocked) == 0 {
			fmt.Fprintf(out, "node/%s drained\n", node)
			return nil
		}
		for _, b := range res.Blocked {
			fmt.Fprintf(errOut, "error when evicting %s (will retry after %v)\n", b, drainRetry)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain node %s: %d pods still kept by their disruption budgets: %w", node, len(res.Blocked), ctx.Err())
		case <-time.After(drainRetry):
		}
	}
}

func newRolloutCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "rollout", Short: "Follow or undo a rollout"}
	var timeout time.Duration
	status := &cobra.Command{
		Use:   "status KIND/NAME",
		Short: "Wait until a Deployment or StatefulSet has rolled out",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			deadline := time.Now().Add(timeout)
			last := ""
			for {
				st, err := g.client().Rollout(cmd.Context(), r.plural, g.namespace, name)
				if err != nil {
					return err
				}
				if st.Message != last {
					fmt.Fprintln(cmd.OutOrStdout(), st.Message)
					last = st.Message
				}
				if st.Done {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("timed out after %s: %s", timeout, st.Message)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	status.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	var toRevision int64
	undo := &cobra.Command{
		Use:   "undo KIND/NAME [--to-revision N]",
		Short: "Roll back to the previous pod template, or to revision N",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			if toRevision < 0 {
				return fmt.Errorf("--to-revision: must be 0 (the previous revision) or more, got %d", toRevision)
			}
			resp, err := g.client().Undo(cmd.Context(), r.plural, g.namespace, name, toRevision)
			if err != nil {
				return err
			}
			if resp.Skipped {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s skipped rollback (current template already matches revision %d)\n", r.group, name, resp.Revision)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s rolled back\n", r.group, name)
			return nil
		},
	}
	undo.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (default: the previous one)")
	history := &cobra.Command{
		Use:   "history KIND/NAME",
		Short: "List the revisions of a Deployment's or StatefulSet's pod template",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			h, err := g.client().History(cmd.Context(), r.plural, g.namespace, name)
			if err != nil {
				return err
			}
			return printHistory(cmd.OutOrStdout(), r.group+"/"+name, h)
		},
	}
	root.AddCommand(status, undo, history)
	return root
}

func newSetCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "set", Short: "Change part of an object"}
	var requests, limits, container string
	res := &cobra.Command{
		Use:   "resources KIND/NAME [--requests k=v,...] [--limits k=v,...] [-c CONTAINER]",
		Short: "Change CPU/memory of a workload's containers (vertical scaling)",
		Long: "Change the requests and limits of a workload's containers. A change of cpu and memory only\n" +
			"is applied to the running pods in place (no rollout): each pod's resize is admitted where its\n" +
			"node has room (else it shows PodResizePending) and restarts only the containers whose\n" +
			"resizePolicy says RestartContainer. ephemeral-storage or nvidia.com/gpu roll the pods.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, name, err := parseKindName(args)
			if err != nil {
				return err
			}
			if requests == "" && limits == "" {
				return fmt.Errorf("give --requests and/or --limits, e.g. --limits cpu=1,memory=512Mi")
			}
			req := api.ResourcesRequest{Container: container}
			if requests != "" {
				if req.Requests, err = manifest.ParseResourceList(requests); err != nil {
					return fmt.Errorf("--requests: %w", err)
				}
				req.SetRequests = resourceNames(requests)
			}
			if limits != "" {
				if req.Limits, err = manifest.ParseResourceList(limits); err != nil {
					return fmt.Errorf("--limits: %w", err)
				}
				req.SetLimits = resourceNames(limits)
			}
			if err := g.client().SetResources(cmd.Context(), r.plural, g.namespace, name, req); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s resource requirements updated\n", r.group, name)
			return nil
		},
	}
	res.Flags().StringVar(&requests, "requests", "", "requests, e.g. cpu=500m,memory=256Mi")
	res.Flags().StringVar(&limits, "limits", "", "limits, e.g. cpu=1,memory=512Mi")
	res.Flags().StringVarP(&container, "container", "c", "", "only this container (default: all)")
	root.AddCommand(res)
	return root
}

func resourceNames(list string) []string {
	var out []string
	for _, kv := range strings.Split(list, ",") {
		k, _, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

func newImageCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "image", Short: "Manage images on a node"}
	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Load OCI or Docker image archives into the addressed agent's containerd (for nodes without a registry)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range args {
				names, err := g.client().ImportImage(cmd.Context(), f)
				if err != nil {
					return fmt.Errorf("import %s: %w", f, err)
				}
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", n)
				}
			}
			return nil
		},
	}
	root.AddCommand(imp)
	return root
}
