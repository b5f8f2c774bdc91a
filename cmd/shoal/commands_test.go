package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
)

// fakeAgent answers the API's list routes from c, filtering by namespace as
// the agent does, and nothing else: a command that needs another route
// fails the test.
func fakeAgent(t *testing.T, c cluster4) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns := r.URL.Query().Get("namespace")
		var v any
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/nodes":
			v = api.List[api.NodeView]{Items: c.nodes}
		case "GET /v1/pods":
			v = api.List[*cluster.Pod]{Items: inNamespaceOrAll(c.pods, ns, func(p *cluster.Pod) string { return p.Namespace })}
		case "GET /v1/deployments":
			v = api.List[api.WorkloadView]{Items: inNamespaceOrAll(c.deployments, ns, workloadNamespace)}
		case "GET /v1/statefulsets":
			v = api.List[api.WorkloadView]{Items: inNamespaceOrAll(c.statefulsets, ns, workloadNamespace)}
		case "GET /v1/services":
			v = api.List[*cluster.Service]{Items: inNamespaceOrAll(c.services, ns, func(s *cluster.Service) string { return s.Namespace })}
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			http.NotFound(w, r)
			return
		}
		if err := json.NewEncoder(w).Encode(v); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func workloadNamespace(v api.WorkloadView) string { return v.Workload.Namespace }

func inNamespaceOrAll[T any](items []T, ns string, nsOf func(T) string) []T {
	if ns == "" {
		return items
	}
	var out []T
	for _, it := range items {
		if nsOf(it) == ns {
			out = append(out, it)
		}
	}
	return out
}

// TestCommandsThroughAgent runs get and describe as a user does, against a
// fake agent, to check what the golden tests cannot: which objects reach
// the printers. Outputs with an AGE column are left out, as get measures
// ages from the real clock.
func TestCommandsThroughAgent(t *testing.T) {
	srv := fakeAgent(t, fixtures(goldenNow))
	// The CLI verifies the agent against the CA of its credentials file.
	conf := filepath.Join(t.TempDir(), "config")
	creds := apiclient.Credentials{Server: strings.TrimPrefix(srv.URL, "https://"), Token: "t",
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))}
	if err := creds.Write(conf); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    string
		golden  string // compare with testdata/<golden>.golden
		want    string // or with this
		wantErr string
	}{
		{args: "get nodes", golden: "get-nodes"},
		{args: "get no -o wide", golden: "get-nodes-wide"},
		{args: "get nodes node-c -o name", want: "node/node-c\n"},
		{args: "get pods -o name", golden: "get-pods-name"},
		{args: "get pods -n ml -o name", want: "pod/trainer-0\npod/notebook\n"},
		{args: "get pods -A -o name", want: "pod/web-7d4b9c-x2k8p\npod/web-6c5d8b-r4n2m\npod/web-7d4b9c-q9z7f\n" +
			"pod/api-5f6c8d-mmx4t\npod/resize-images\npod/shop-6b8f94-k7wqz\npod/ledger-8c7d5f-5tq2w\npod/db-0\npod/db-1\n" +
			"pod/trainer-0\npod/notebook\n"},
		{args: "get pods -n empty", want: "No pods found.\n"},
		{args: "get pod db-1 -o name", want: "pod/db-1\n"},
		{args: "get pod trainer-0", wantErr: `pod "trainer-0" not found`},
		{args: "get deploy -o name", want: "deployment.apps/web\ndeployment.apps/api\ndeployment.apps/shop\n"},
		{args: "get sts db -o name", want: "statefulset.apps/db\n"},
		{args: "get svc", golden: "get-services"},
		{args: "get services -o wide", golden: "get-services-wide"},
		{args: "get svc dns -o name", want: "service/dns\n"},
		{args: "describe pod db-1", golden: "describe-pod-volume-wait"},
		{args: "describe pod/api-5f6c8d-mmx4t", golden: "describe-pod-crashloop-oomkilled"},
		{args: "describe pod trainer-0 -n ml", golden: "describe-pod-gpu"},
		{args: "describe pod trainer-0", wantErr: `pod "trainer-0" not found in namespace "default"`},
		{args: "describe node gpu-1", golden: "describe-node-gpu-leader"},
		{args: "describe node node-x", wantErr: `node "node-x" not found`},
		{args: "describe deploy shop", golden: "describe-deployment"},
		{args: "describe sts db", golden: "describe-statefulset"},
		{args: "describe svc web", golden: "describe-service"},
		{args: "scale ds/node-exporter --replicas 3", wantErr: "scale: daemonsets cannot be scaled (deployments, statefulsets and replicasets can)"},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append(strings.Fields(tc.args), "--config", conf))
			err := root.Execute()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.golden != "" {
				b, err := os.ReadFile(filepath.Join("testdata", tc.golden+".golden"))
				if err != nil {
					t.Fatal(err)
				}
				want = string(b)
			}
			if got := out.String(); got != want {
				t.Errorf("output differs (- want, + got):\n%s", lineDiff(want, got))
			}
		})
	}
}
