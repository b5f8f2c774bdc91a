package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
)

// TestApplyClientDryRun: --dry-run=client checks the files in the CLI
// alone (no credentials, no agent) and fails on any problem, with every
// problem of the file at once.
func TestApplyClientDryRun(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SHOAL_CONFIG", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}
`), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  schedulerName: x\n  containers: [{name: c, image: busybox, resources: {limits: {bogus: 1}}}]\n"), 0o644)
	tests := []struct {
		args     string
		want     string
		wantErrs []string
	}{
		{args: "apply --dry-run=client -f " + good, want: "deployment.apps/web created (dry run)\nservice/web created (dry run)\n"},
		{args: "apply --dry-run -f " + good, want: "deployment.apps/web created (dry run)\nservice/web created (dry run)\n"},
		{args: "apply --dry-run=client -f " + bad, wantErrs: []string{"spec.schedulerName: not supported by Shoal", `resource "bogus" is not supported`}},
		{args: "apply --dry-run=maybe -f " + good, wantErrs: []string{`--dry-run: "maybe" is not valid ("none", "client" or "server")`}},
		{args: "apply --dry-run=server --wait -f " + good, wantErrs: []string{"--wait: nothing to wait for with --dry-run"}},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(strings.Fields(tc.args))
			err := root.Execute()
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("succeeded:\n%s", out.String())
				}
				for _, w := range tc.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tc.want)
			}
		})
	}
}

// TestApplyServerDryRun: --dry-run=server asks the agent for a dry run
// and says so on every line; an agent that applied instead is an error.
func TestApplyServerDryRun(t *testing.T) {
	for _, agentKnows := range []bool{true, false} {
		t.Run(fmt.Sprint("agent knows dry runs: ", agentKnows), func(t *testing.T) {
			var got api.ApplyRequest
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/apply" || json.NewDecoder(r.Body).Decode(&got) != nil {
					http.Error(w, "unexpected request", http.StatusBadRequest)
					return
				}
				json.NewEncoder(w).Encode(api.ApplyResponse{Results: []string{"deployment.apps/web configured"}, DryRun: agentKnows && got.DryRun})
			}))
			defer srv.Close()
			conf := filepath.Join(t.TempDir(), "config")
			creds := apiclient.Credentials{Server: strings.TrimPrefix(srv.URL, "https://"), Token: "t",
				CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
			if err := creds.Write(conf); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "web.yaml")
			os.WriteFile(f, []byte("kind: Deployment\n"), 0o644)
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs([]string{"apply", "--dry-run=server", "-f", f, "--config", conf})
			err := root.Execute()
			if !got.DryRun || len(got.Files) != 1 {
				t.Fatalf("request %+v: want a dry run of the file", got)
			}
			if agentKnows {
				if err != nil || out.String() != "deployment.apps/web configured (server dry run)\n" {
					t.Fatalf("output %q, err %v", out.String(), err)
				}
			} else if err == nil || !strings.Contains(err.Error(), "does not support --dry-run=server") {
				t.Fatalf("an agent without dry runs: %v", err)
			}
		})
	}
}
