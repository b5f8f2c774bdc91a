// Command shoal is Shoal's one binary: `shoal agent` runs on every server,
// the other verbs are the client.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"shoal/cluster"
)

// version and commit are set at build time with
// -ldflags "-X main.version=... -X main.commit=..." (see the Makefile).
var (
	version = "dev"
	commit  = ""
)

// exitError carries a process exit code (e.g. from `shoal exec`) without
// printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// Signals first: every command, the agent above all, stops cleanly on
	// SIGINT/SIGTERM through the context.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// globals are the client flags every verb shares.
type globals struct {
	addr      string
	token     string
	tokenFile string
	namespace string
}

// defaultTokenFile is where an agent with the default data dir keeps the
// cluster token, readable by root only: root on a node needs no flag, and
// other local users get nothing.
const defaultTokenFile = "/var/lib/shoal/token"

// clientToken is the token the client verbs send: --token (SHOAL_TOKEN),
// else the content of --token-file (SHOAL_TOKEN_FILE), else that of the
// default token file when this user may read it. An agent trusts no one
// for being local, so without a token a client gets only the answer that
// it needs one.
func (g *globals) clientToken() (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if g.tokenFile != "" {
		return readToken(g.tokenFile)
	}
	if t, err := readToken(defaultTokenFile); err == nil {
		return t, nil
	}
	return "", nil
}

// agentToken is the token `shoal agent` joins with: only what it is
// given, never the default file (the agent keeps its own in its data dir).
func (g *globals) agentToken() (string, error) {
	if g.token != "" || g.tokenFile == "" {
		return g.token, nil
	}
	return readToken(g.tokenFile)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the cluster token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read the cluster token: %s is empty", path)
	}
	return t, nil
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "Shoal runs your Kubernetes-style YAML on a cluster of identical agents",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       strings.TrimSpace(version + " " + commit),
		// The client verbs' token is resolved once, before the verb: a
		// --token-file that cannot be read stops the verb with why, rather
		// than every request answering 401. `shoal agent` resolves its own
		// (it never reads the default file).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == "agent" {
				return nil
			}
			tok, err := g.clientToken()
			if err != nil {
				return fmt.Errorf("--token-file: %w", err)
			}
			g.token = tok
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("SHOAL_ADDR", net.JoinHostPort("127.0.0.1", strconv.Itoa(cluster.DefaultAPIPort))), "agent API address (env SHOAL_ADDR)")
	pf.StringVar(&g.token, "token", os.Getenv("SHOAL_TOKEN"), "cluster token (env SHOAL_TOKEN); shows in the process list, prefer --token-file")
	pf.StringVar(&g.tokenFile, "token-file", os.Getenv("SHOAL_TOKEN_FILE"), "file holding the cluster token (env SHOAL_TOKEN_FILE; default for the client verbs: "+defaultTokenFile+" when readable)")
	pf.StringVarP(&g.namespace, "namespace", "n", "default", "namespace")

	root.AddCommand(
		newAgentCmd(g),
		newApplyCmd(g),
		newDeleteCmd(g),
		newGetCmd(g),
		newDescribeCmd(g),
		newScaleCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newNodeActionCmd(g, "cordon", "Mark a node unschedulable"),
		newNodeActionCmd(g, "uncordon", "Mark a node schedulable again"),
		newNodeActionCmd(g, "drain", "Cordon a node and move its pods elsewhere"),
		newRolloutCmd(g),
		newSetCmd(g),
		newTokenCmd(g),
		newImageCmd(g),
	)
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
