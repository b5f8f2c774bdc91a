package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
)

// TestServerDryRun: a dry run answers what the apply would do (created,
// configured, unchanged, or every refusal, the FSM's included) and
// changes nothing.
func TestServerDryRun(t *testing.T) {
	c, store := newTestAPI(t)
	ctx := context.Background()
	dry := func(data string) (*api.ApplyResponse, error) {
		return c.ApplyRequest(ctx, api.ApplyRequest{Files: []api.File{{Name: "web.yaml", Data: data}}, DryRun: true})
	}
	before := store.State().Index()
	resp, err := dry(deployment)
	if err != nil || !resp.DryRun || fmt.Sprint(resp.Results) != "[deployment.apps/web created service/web created]" {
		t.Fatalf("dry run of new objects: %+v %v", resp, err)
	}
	if store.State().Index() != before {
		t.Fatal("a dry run changed the state")
	}
	if _, err := c.Apply(ctx, []api.File{{Name: "web.yaml", Data: deployment}}); err != nil {
		t.Fatal(err)
	}
	before = store.State().Index()
	resp, err = dry(strings.Replace(deployment, "replicas: 2", "replicas: 3", 1))
	if err != nil || fmt.Sprint(resp.Results) != "[deployment.apps/web configured service/web unchanged]" {
		t.Fatalf("dry run of a change: %+v %v", resp, err)
	}
	if wl, _ := store.State().Workload(cluster.KindDeployment, "default", "web"); wl.Replicas != 2 || store.State().Index() != before {
		t.Fatal("a dry run changed the state")
	}
	// Refusals: the pod security policy, and the FSM's own check of two
	// services of one apply asking for the same node port.
	lbs := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: NodePort, selector: {app: a}, ports: [{port: 80, nodePort: 30500}]}\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {type: NodePort, selector: {app: b}, ports: [{port: 80, nodePort: 30500}]}\n" +
		"---\napiVersion: v1\nkind: Pod\nmetadata: {name: root}\nspec: {hostPID: true, containers: [{name: c, image: busybox:1}]}\n"
	_, err = dry(lbs)
	if err == nil || !strings.Contains(err.Error(), `Pod "root"`) || !strings.Contains(err.Error(), "hostPID") ||
		!strings.Contains(err.Error(), `Service "b", line 6): service default/b: conflict: spec.ports[0].nodePort: 30500 is already used by service default/a`) {
		t.Fatalf("dry run refusals: %v", err)
	}
	if store.State().Index() != before {
		t.Fatal("a refused dry run changed the state")
	}
	// delete -f never takes a dry run for a real one.
	body, _ := json.Marshal(api.ApplyRequest{Files: []api.File{{Name: "web.yaml", Data: deployment}}, DryRun: true})
	req, _ := http.NewRequest("POST", "https://"+c.Addr+api.PathPrefix+"/delete", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hr, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 400 || !strings.Contains(string(msg), "dryRun: not supported here") {
		t.Fatalf("delete with dryRun: %d %s", hr.StatusCode, msg)
	}
	if _, ok := store.State().Workload(cluster.KindDeployment, "default", "web"); !ok {
		t.Fatal("delete with dryRun deleted")
	}
}

// TestDryRunForwardedToLeader: a follower sends a dry run to the leader
// with the flag kept: the leader answers it and commits nothing.
func TestDryRunForwardedToLeader(t *testing.T) {
	var audit bytes.Buffer
	var mu sync.Mutex
	_, leader, _, c := forwardingPair(t, Config{Audit: slog.New(slog.NewTextHandler(lockedWriter{&mu, &audit}, nil))}, "")
	before := leader.State().Index()
	resp, err := c.ApplyRequest(context.Background(), api.ApplyRequest{Files: []api.File{{Name: "web.yaml", Data: deployment}}, DryRun: true})
	if err != nil || !resp.DryRun || len(resp.Results) != 2 {
		t.Fatalf("forwarded dry run: %+v %v", resp, err)
	}
	if leader.State().Index() != before {
		t.Fatal("the forwarded dry run was committed")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(audit.String(), "via=n2") || !strings.Contains(audit.String(), "path=/v1/apply") {
		t.Errorf("the leader did not answer the dry run: its audit log:\n%s", audit.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestForwardToUnreachableLeader: when the leader's API does not answer,
// a follower's forwarded request fails with an error that says so and
// where it tried, not a bare 502 with an empty body (the CLI printed
// "error:" and nothing else; found by the fault suite, integration
// TestChaos, when the leader was killed).
func TestForwardToUnreachableLeader(t *testing.T) {
	dead := closedAddr(t)
	_, _, _, c := forwardingPair(t, Config{}, dead)
	for _, tcase := range []struct {
		name string
		call func() error
	}{
		{"write", func() error {
			_, err := c.Apply(context.Background(), []api.File{{Name: "web.yaml", Data: deployment}})
			return err
		}},
		{"consistent read", func() error {
			c2 := *c
			c2.Consistent = true
			_, err := c2.Nodes(context.Background())
			return err
		}},
	} {
		err := tcase.call()
		var se *apiclient.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusBadGateway {
			t.Fatalf("%s through a follower whose leader is unreachable: %v, want a 502 StatusError", tcase.name, err)
		}
		if !strings.Contains(se.Message, "forward to the agent at "+dead) {
			t.Errorf("%s: error %q does not say which agent it could not reach", tcase.name, se.Message)
		}
	}
}
