package integration

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
	"shoal/seal"
)

const secretsManifest = `apiVersion: v1
kind: Namespace
metadata: {name: vault}
---
apiVersion: v1
kind: Secret
metadata: {name: api, namespace: vault}
type: Opaque
stringData: {token: ` + secretValue + `}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: vault}
data: {v: ` + controlValue + `}
`

const (
	secretValue  = "s3cr3t-Value-c0ffee42"
	controlValue = "plain-Control-deadbeef"
)

// TestClusterSecrets checks Secrets at rest on a real three-agent
// cluster: joiners receive the key that seals them, a rotation while a
// voter is down still succeeds (a majority holds the new key) and the
// voter fetches the key when it returns, every agent reads the Secret, and
// no agent's raft.db or snapshot holds its value (the ConfigMap value, in
// the same log, is the control). Deleting the namespace deletes both.
func TestClusterSecrets(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3})
	c.Agents[0].Apply(t, secretsManifest)
	first := keyIDs(t, c.Agents[0])
	for i := range c.Agents {
		if got := keyIDs(t, c.Agents[i]); len(got) != 1 || got[0] != first[0] {
			t.Fatalf("agent %d holds secret keys %v, agent 1 %v", i+1, got, first)
		}
	}

	c.Agents[2].Stop()
	out := c.Agents[1].Shoal(t, "secrets", "rotate-key")
	if !strings.Contains(out, "1 Secrets re-encrypted") {
		t.Fatalf("rotate-key: %s", out)
	}
	c.Restart(2)
	poll.Until(t, 30*time.Second, "agent 3 to fetch the new key", func() (bool, string) {
		ids := keyIDs(t, c.Agents[2])
		return len(ids) == 2, "agent 3 holds " + strings.Join(ids, ",")
	})

	for i, a := range c.Agents {
		var sec corev1.Secret
		a.ShoalJSON(t, &sec, "get", "secret", "api", "-n", "vault")
		if string(sec.Data["token"]) != secretValue {
			t.Errorf("agent %d reads the secret as %q", i+1, sec.Data["token"])
		}
	}
	if r := c.Agents[0].Run("delete", "namespace", "vault"); r.Code != 0 {
		t.Fatal(r.Err())
	}
	poll.Until(t, 10*time.Second, "the namespace's Secret to go with it", func() (bool, string) {
		out := c.Agents[1].Run("get", "secrets", "-A")
		return strings.Contains(out.Stdout, "No secrets found"), out.Stdout + out.Stderr
	})
	// Bolt syncs every commit, so raft.db holds the log now; snapshots
	// are grepped too when one was due (TestSecretsAtRest forces one).
	for i, a := range c.Agents {
		found := grepDir(t, filepath.Join(a.Opts.DataDir, "raft"), secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), controlValue)
		if !found[controlValue] {
			t.Errorf("agent %d: the control value is not in its raft dir: the grep proves nothing", i+1)
		}
		if found[secretValue] || found[base64.StdEncoding.EncodeToString([]byte(secretValue))] {
			t.Errorf("agent %d: the secret's value is in its raft dir in clear", i+1)
		}
	}
}

// keyIDs lists the IDs in an agent's secret keyring file.
func keyIDs(t *testing.T, a *Agent) []string {
	t.Helper()
	r, err := seal.Load(a.Opts.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range r.Keys() {
		ids = append(ids, k.ID)
	}
	return ids
}

// grepDir reports which needles occur in any file under dir.
func grepDir(t *testing.T, dir string, needles ...string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found[n] = true
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
