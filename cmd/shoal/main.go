// Command shoal is Shoal's one binary: `shoal agent` runs on every server,
// the other verbs are the client.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"shoal/agent/apiclient"
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
	config    string
	namespace string
	// tls trusts the cluster CA from the credentials; resolved before the
	// verb runs (see resolve).
	tls *tls.Config
	// requestTimeout is --request-timeout as given ("0": none); timeout
	// is it parsed, and cancel ends the context it set (main's own
	// context ends it otherwise).
	requestTimeout string
	timeout        time.Duration
	cancel         context.CancelFunc
}

// parseRequestTimeout reads --request-timeout as kubectl does: a
// duration ("30s", "2m"), or a whole number of seconds; 0 waits forever.
func parseRequestTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, fmt.Errorf("--request-timeout %q: expected a duration (30s, 2m) or a number of seconds", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("--request-timeout %q: expected 0 (no timeout) or more", v)
	}
	return d, nil
}

// withRequestTimeout bounds cmd's context by --request-timeout. Writes
// carry the deadline to the agent (api.DeadlineHeader), which refuses
// one that reaches it later: a command that gave up changes nothing
// afterwards.
func (g *globals) withRequestTimeout(cmd *cobra.Command) error {
	d, err := parseRequestTimeout(g.requestTimeout)
	if err != nil || d == 0 {
		return err
	}
	g.timeout = d
	ctx, cancel := context.WithTimeout(cmd.Context(), d)
	g.cancel = cancel
	cmd.SetContext(ctx)
	return nil
}

// defaultAdminConf is the credential an agent with the default data dir
// writes for its host's root user: root on a node needs no flag, and
// other local users get nothing.
const defaultAdminConf = "/var/lib/shoal/admin.conf"

// userConf is where a user keeps the credentials file `shoal token create
// -o config` printed for them.
func userConf() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".shoal", "config")
}

// resolve finds the client's credentials: --config (SHOAL_CONFIG), else
// ~/.shoal/config, else the root-only admin.conf when this user may read
// it. --addr and --token (or --token-file) override what the file says.
// The agent is always verified against the cluster CA of the file: there
// is no insecure mode.
func (g *globals) resolve() error {
	path := g.config
	if path == "" {
		for _, p := range []string{userConf(), defaultAdminConf} {
			if p == "" {
				continue
			}
			if f, err := os.Open(p); err == nil {
				f.Close()
				path = p
				break
			}
		}
	}
	if path == "" {
		return errors.New("no credentials: pass --config FILE (`shoal token create -o config` makes one), or run as root on a node (" + defaultAdminConf + ")")
	}
	creds, err := apiclient.LoadCredentials(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if g.tls, err = creds.TLS(); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if g.addr == "" {
		g.addr = creds.Server
	}
	switch {
	case g.token != "":
	case g.tokenFile != "":
		if g.token, err = readToken(g.tokenFile); err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
	default:
		g.token = creds.Token
	}
	return nil
}

// agentToken is the join token `shoal agent` joins with: only what it is
// given.
func (g *globals) agentToken() (string, error) {
	if g.token != "" || g.tokenFile == "" {
		return g.token, nil
	}
	return readToken(g.tokenFile)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read the token: %s is empty", path)
	}
	return t, nil
}

// offline marks commands that do not talk to an agent's API.
const offline = "offline"

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "Shoal runs your Kubernetes-style YAML on a cluster of identical agents",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       strings.TrimSpace(version + " " + commit),
		// The client verbs' credentials are resolved once, before the
		// verb: a missing or unreadable file stops the verb with why,
		// rather than every request failing. `shoal agent` resolves its
		// own join token (it never reads a credentials file).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Annotations[offline] != "" {
				return nil
			}
			// apply --dry-run=client needs no agent, so no credentials.
			if f := cmd.Flags().Lookup("dry-run"); f != nil && f.Value.String() == "client" {
				return nil
			}
			for c := cmd; c != nil; c = c.Parent() {
				if c.Name() == "help" || c.Name() == "completion" {
					return nil
				}
			}
			if err := g.withRequestTimeout(cmd); err != nil {
				return err
			}
			return g.resolve()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", os.Getenv("SHOAL_ADDR"), "agent API address, HOST:PORT (env SHOAL_ADDR; default: the credentials' server)")
	pf.StringVar(&g.config, "config", os.Getenv("SHOAL_CONFIG"), "credentials file: server, cluster CA, token (env SHOAL_CONFIG; default ~/.shoal/config, else "+defaultAdminConf+" when readable)")
	pf.StringVar(&g.token, "token", os.Getenv("SHOAL_TOKEN"), "API token, or for `shoal agent --join` the join token (env SHOAL_TOKEN); shows in the process list, prefer --token-file")
	pf.StringVar(&g.tokenFile, "token-file", os.Getenv("SHOAL_TOKEN_FILE"), "file holding the token (env SHOAL_TOKEN_FILE)")
	pf.StringVarP(&g.namespace, "namespace", "n", "default", "namespace")
	pf.StringVar(&g.requestTimeout, "request-timeout", "0", "give up on the command after this long (30s, 2m, or seconds; 0: never); a write that reaches the agent later is refused, not applied")

	root.AddCommand(
		newAgentCmd(g),
		newApplyCmd(g),
		newDeleteCmd(g),
		newGetCmd(g),
		newDescribeCmd(g),
		newCreateCmd(g),
		newScaleCmd(g),
		newAutoscaleCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newNodeActionCmd(g, "cordon", "Mark a node unschedulable"),
		newNodeActionCmd(g, "uncordon", "Mark a node schedulable again"),
		newDrainCmd(g),
		newTaintCmd(g),
		newRolloutCmd(g),
		newSetCmd(g),
		newTokenCmd(g),
		newGossipCmd(g),
		newSecretsCmd(g),
		newPolicyCmd(g),
		newImageCmd(g),
		newTopCmd(g),
		newFenceWatchdogCmd(),
	)
	return root
}
