package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/internal/atomicfile"
)

func newTokenCmd(g *globals) *cobra.Command {
	var dataDir string
	join := &cobra.Command{
		Use:         "join",
		Short:       "Print the cluster's join token (root on the first agent: from <data-dir>/join-token)",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{offline: "1"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Read from the root-only file, never served over the API:
			// whoever may read it may have it.
			t, err := readToken(filepath.Join(dataDir, "join-token"))
			if err != nil {
				return fmt.Errorf("%w (the join token is readable by root on the first agent; `shoal token rotate-join` makes a new one)", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), t)
			return nil
		},
	}
	join.Flags().StringVar(&dataDir, "data-dir", "/var/lib/shoal", "the agent's data dir")

	create := newTokenCreateCmd(g)

	list := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			toks, err := g.client().Tokens(cmd.Context())
			if err != nil {
				return err
			}
			printTokens(cmd, toks, time.Now())
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME|ID",
		Short: "Revoke an API token; every agent refuses it within moments",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	rotate := newTokenRotateCmd(g)
	root := &cobra.Command{
		Use:   "token",
		Short: "Manage the join token and API tokens",
		Args:  cobra.NoArgs,
		// `shoal token` alone prints the join token, as it always did.
		Annotations: map[string]string{offline: "1"},
		RunE:        join.RunE,
	}
	root.Flags().StringVar(&dataDir, "data-dir", "/var/lib/shoal", "the agent's data dir")
	root.AddCommand(join, create, list, revoke, rotate)
	return root
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var role, ttl, output string
	create := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create an API token with a role (admin, edit, view) and an optional lifetime",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "token" && output != "config" {
				return fmt.Errorf("-o %q: expected token or config", output)
			}
			req := api.TokenRequest{Role: role, TTL: ttl}
			if len(args) == 1 {
				req.Name = args[0]
			}
			res, err := g.client().CreateToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if output == "token" {
				fmt.Fprintln(cmd.OutOrStdout(), res.Token)
				return nil
			}
			// A file made on a node for someone elsewhere must not say
			// 127.0.0.1: it names the agent as other machines reach it.
			server := g.addr
			if host, _, err := net.SplitHostPort(server); err == nil && res.Server != "" {
				if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
					server = res.Server
				}
			}
			creds := apiclient.Credentials{Server: server, CA: res.CA, Token: res.Token}
			b, err := creds.Marshal()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	create.Flags().StringVar(&role, "role", "view", "admin, edit or view")
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime, e.g. 24h (default: until revoked)")
	create.Flags().StringVarP(&output, "output", "o", "token", "token (the token alone) or config (a credentials file for --config)")
	return create
}

func newTokenRotateCmd(g *globals) *cobra.Command {
	var dataDir string
	rotate := &cobra.Command{
		Use:   "rotate-join",
		Short: "Replace the join secret and print the new join token; the old one admits no one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.client().RotateJoinToken(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t)
			// Keep `shoal token join` right on this host when it keeps
			// the join token (root on the first agent).
			path := filepath.Join(dataDir, "join-token")
			if _, err := os.Stat(path); err == nil {
				if err := atomicfile.Write(path, []byte(t+"\n"), 0o600); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s still holds the old join token: %v\n", path, err)
				}
			}
			return nil
		},
	}
	rotate.Flags().StringVar(&dataDir, "data-dir", "/var/lib/shoal", "the agent's data dir, whose join-token file is replaced when it exists")
	return rotate
}

func printTokens(cmd *cobra.Command, toks []api.TokenInfo, now time.Time) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tROLE\tAGE\tEXPIRES\tCREATED BY")
	for _, t := range toks {
		exp := "never"
		if !t.ExpiresAt.IsZero() {
			// age of a time as far in the past as t is ahead.
			exp = "in " + age(now.Add(-t.ExpiresAt.Sub(now)), now)
			if !now.Before(t.ExpiresAt) {
				exp = "expired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.ID, t.Role, age(t.CreatedAt, now), exp, t.CreatedBy)
	}
	tw.Flush()
}

func newGossipCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "gossip", Short: "Manage the gossip layer"}
	root.AddCommand(&cobra.Command{
		Use:   "rotate-key",
		Short: "Replace the gossip encryption key on every agent while the cluster runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Three steps a few seconds apart, for every agent to follow
			// each: say so rather than sit silent.
			fmt.Fprintln(cmd.ErrOrStderr(), "rotating: installing the new key on every agent, then making it primary, then dropping the old one (about 6 s) ...")
			if err := g.client().RotateGossipKey(cmd.Context()); err != nil {
				if errors.Is(err, cmd.Context().Err()) {
					return err
				}
				return fmt.Errorf("rotate the gossip key: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "gossip key rotated")
			return nil
		},
	})
	return root
}

func newSecretsCmd(g *globals) *cobra.Command {
	root := &cobra.Command{Use: "secrets", Short: "Manage how Secrets are encrypted at rest"}
	root.AddCommand(&cobra.Command{
		Use:   "rotate-key",
		Short: "Make a new key for Secrets at rest and re-encrypt every Secret with it",
		Long: "Secrets are stored in the Raft log and snapshots encrypted (AES-256-GCM) with a key kept in\n" +
			"each agent's data dir (secret-keys.json), never in the log. rotate-key hands a new key to every\n" +
			"agent, then re-encrypts every Secret with it. Old keys stay, for the log entries written before.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := g.client().RotateSecretKey(cmd.Context())
			if err != nil {
				return fmt.Errorf("rotate the secret key: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret key rotated: new key %s, %d Secrets re-encrypted\n", res.KeyID, res.Resealed)
			return nil
		},
	})
	return root
}
