package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/manifest"
)

func newApplyCmd(g *globals) *cobra.Command {
	var files []string
	var wait bool
	var timeout time.Duration
	var dryRun string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [--wait] [--dry-run=client|server]",
		Short: "Store the desired state from Kubernetes-style YAML",
		// The flags are checked with the arguments, before the
		// credentials are looked for.
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return err
			}
			switch dryRun {
			case "none", "client", "server":
			default:
				return fmt.Errorf(`--dry-run: %q is not valid ("none", "client" or "server")`, dryRun)
			}
			if wait && dryRun != "none" {
				return fmt.Errorf("--wait: nothing to wait for with --dry-run")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dryRun == "client" {
				return applyClientDryRun(files, cmd.InOrStdin(), cmd.OutOrStdout())
			}
			in, err := readFiles(files, cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := g.client()
			resp, err := c.ApplyRequest(ctx, api.ApplyRequest{Files: in, DryRun: dryRun == "server"})
			if err != nil {
				return err
			}
			suffix := ""
			if dryRun == "server" {
				if !resp.DryRun {
					// An agent that does not know dry runs applied it.
					return fmt.Errorf("the agent applied the files: it does not support --dry-run=server (upgrade it)")
				}
				suffix = " (server dry run)"
			}
			for _, r := range resp.Results {
				fmt.Fprintln(cmd.OutOrStdout(), r+suffix)
			}
			for _, warn := range resp.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning:", warn)
			}
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return waitApplied(ctx, c, resp.Objects, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "file, directory or - for stdin (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the workloads are rolled out and pods run")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	cmd.Flags().StringVar(&dryRun, "dry-run", "none", `"client": only check the files, in the CLI (no agent); `+
		`"server": the agent checks everything an apply does and commits nothing`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client" // kubectl's bare --dry-run
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// applyClientDryRun decodes and checks the files in the CLI alone, as
// `kubectl apply --dry-run=client` does without a cluster: it cannot tell
// what the cluster holds, so every object is reported as created. The
// agent's own checks (pod security policy, what exists) are left to
// --dry-run=server.
func applyClientDryRun(paths []string, stdin io.Reader, out io.Writer) error {
	objs, err := manifest.Load(paths, stdin)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("no objects in the given files")
	}
	for _, o := range objs {
		group := strings.ToLower(o.Kind)
		for _, r := range resources {
			if r.kind == o.Kind {
				group = r.group
			}
		}
		fmt.Fprintf(out, "%s/%s created (dry run)\n", group, o.Name)
	}
	return nil
}

// readFiles reads manifest files as kubectl -f does: files, the *.yaml,
// *.yml and *.json files of a directory (not recursive), or stdin for "-".
func readFiles(paths []string, stdin io.Reader) ([]api.File, error) {
	var out []api.File
	for _, p := range paths {
		if p == "-" {
			b, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			out = append(out, api.File{Name: "<stdin>", Data: string(b)})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		names := []string{p}
		if fi.IsDir() {
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			names = names[:0]
			for _, e := range entries {
				ext := strings.ToLower(filepath.Ext(e.Name()))
				if !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
					names = append(names, filepath.Join(p, e.Name()))
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
			}
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			out = append(out, api.File{Name: n, Data: string(b)})
		}
	}
	return out, nil
}

// waitApplied polls until every workload named in the apply results has
// rolled out and every bare pod runs, printing progress as it changes.
func waitApplied(ctx context.Context, c *apiclient.Client, objs []api.ObjectRef, w io.Writer) error {
	last := ""
	for {
		var waiting []string
		for _, o := range objs {
			if o.Resource == "services" {
				continue
			}
			done, msg, err := targetDone(ctx, c, o)
			if err != nil {
				return err
			}
			if !done {
				waiting = append(waiting, msg)
			}
		}
		if len(waiting) == 0 {
			fmt.Fprintln(w, "all applied objects are ready")
			return nil
		}
		if s := strings.Join(waiting, "; "); s != last {
			fmt.Fprintln(w, "waiting:", s)
			last = s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting: %s", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func targetDone(ctx context.Context, c *apiclient.Client, o api.ObjectRef) (bool, string, error) {
	ns, n := o.Namespace, o.Name
	if o.Resource == "pods" {
		pods, err := c.Pods(ctx, ns)
		if err != nil {
			return false, "", err
		}
		for _, p := range pods.Items {
			if p.Name == n {
				if p.Ready() {
					return true, "", nil
				}
				return false, fmt.Sprintf("pod/%s is %s", n, podStatusWord(p)), nil
			}
		}
		return false, "pod/" + n + " not found", nil
	}
	st, err := c.Rollout(ctx, o.Resource, ns, n)
	if err != nil {
		return false, "", err
	}
	return st.Done, st.Message, nil
}
