package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newPolicyCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "policy",
		Short: "Show the cluster's pod security policy (privileged, baseline or restricted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := g.client().Policy(cmd.Context())
			if err != nil {
				return err
			}
			paths := "none"
			if len(p.AllowedHostPaths) > 0 {
				paths = strings.Join(p.AllowedHostPaths, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "level:              %s\nallowed host paths: %s\n", p.Level, paths)
			return nil
		},
	}
	var level string
	var allow, disallow []string
	set := &cobra.Command{
		Use:   "set [--level L] [--allow-host-path DIR]... [--disallow-host-path DIR]...",
		Short: "Set the pod security level and the host directories hostPath volumes may use; applies to what is applied from now on",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := g.client()
			p, err := c.Policy(cmd.Context())
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("level") {
				p.Level = level
			}
			for _, d := range allow {
				if !slices.Contains(p.AllowedHostPaths, d) {
					p.AllowedHostPaths = append(p.AllowedHostPaths, d)
				}
			}
			p.AllowedHostPaths = slices.DeleteFunc(p.AllowedHostPaths, func(d string) bool { return slices.Contains(disallow, d) })
			if err := c.SetPolicy(cmd.Context(), *p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pod security policy: %s\n", p.Level)
			return nil
		},
	}
	set.Flags().StringVar(&level, "level", "baseline", "privileged, baseline or restricted")
	set.Flags().StringSliceVar(&allow, "allow-host-path", nil, "allow hostPath volumes under this host directory at the baseline level (repeatable; added to those allowed)")
	set.Flags().StringSliceVar(&disallow, "disallow-host-path", nil, "no longer allow this host directory (repeatable)")
	root.AddCommand(set)
	return root
}
