package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/consensus"
	"shoal/internal/poll"
	"shoal/seal"
)

const shopManifests = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: shop}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData: {password: hunter2-plaintext}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
`

func applyYAML(t *testing.T, c *apiclient.Client, data string) (*api.ApplyResponse, error) {
	t.Helper()
	return c.Apply(context.Background(), []api.File{{Name: "shop.yaml", Data: data}})
}

func TestApplyObjects(t *testing.T) {
	tc := newTestCluster(t, Config{})
	admin := tc.user(t, "admin")
	ctx := context.Background()
	resp, err := applyYAML(t, admin, shopManifests)
	if err != nil {
		t.Fatal(err)
	}
	want := "[namespace/shop created configmap/cfg created secret/db created serviceaccount/web created]"
	if fmt.Sprint(resp.Results) != want {
		t.Errorf("results %v, want %v", resp.Results, want)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], `ServiceAccount "web" is stored but has no effect`) {
		t.Errorf("warnings %q", resp.Warnings)
	}
	// The state holds the Secret sealed, never in clear.
	st := tc.store.State()
	sec, ok := st.Object(cluster.KindSecret, "shop", "db")
	if !ok || len(sec.Sealed) == 0 || bytes.Contains(sec.Sealed, []byte("hunter2")) {
		t.Fatalf("stored secret %+v", sec)
	}
	if id, _ := seal.KeyID(sec.Sealed); id != st.Trust().SecretKeyID {
		t.Errorf("sealed with %q, active key %q", id, st.Trust().SecretKeyID)
	}
	resp, err = applyYAML(t, admin, shopManifests)
	if err != nil || !strings.Contains(fmt.Sprint(resp.Results), "secret/db unchanged") || resp.Index != 0 {
		t.Errorf("re-apply: %v %v (index %d)", resp.Results, err, resp.Index)
	}

	// Reading Secrets needs edit or admin; view may list everything else.
	l, err := tc.user(t, "edit").Objects(ctx, "secrets", "shop")
	if err != nil || len(l.Items) != 1 || string(l.Items[0].SecretData["password"]) != "hunter2-plaintext" || l.Items[0].Object.Sealed != nil {
		t.Errorf("edit reads secrets: %+v %v", l, err)
	}
	if _, err := tc.user(t, "view").Objects(ctx, "secrets", "shop"); err == nil || !strings.Contains(err.Error(), "may not GET /v1/secrets") {
		t.Errorf("view reads secrets: %v", err)
	}
	if l, err := tc.user(t, "view").Objects(ctx, "configmaps", ""); err != nil || len(l.Items) != 1 {
		t.Errorf("view lists configmaps: %v %v", l, err)
	}
	ns, err := tc.user(t, "view").Objects(ctx, "namespaces", "")
	if err != nil || len(ns.Items) != len(cluster.BuiltinNamespaces)+1 {
		t.Errorf("namespaces %+v %v", ns, err)
	}
}

func TestApplyObjectsRefused(t *testing.T) {
	tc := newTestCluster(t, Config{})
	admin := tc.user(t, "admin")
	if _, err := applyYAML(t, admin, shopManifests+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: locked, namespace: shop}\nimmutable: true\ndata: {a: b}\n"); err != nil {
		t.Fatal(err)
	}
	before := tc.store.State().Index()
	tests := []struct{ name, yaml, want string }{
		{"missing namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nowhere}\n",
			`shop.yaml: document 1 (ConfigMap "x", line 1): namespace "nowhere" not found`},
		{"workload in a missing namespace", strings.Replace(deployment, "name: web\n", "name: web\n  namespace: nowhere\n", 1),
			`namespace "nowhere" not found`},
		{"immutable", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: locked, namespace: shop}\nimmutable: true\ndata: {a: c}\n",
			"ConfigMap locked is immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := applyYAML(t, admin, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if tc.store.State().Index() != before {
				t.Fatal("a refused apply changed the state")
			}
		})
	}
}

func TestDeleteNamespace(t *testing.T) {
	tc := newTestCluster(t, Config{})
	admin := tc.user(t, "admin")
	ctx := context.Background()
	if _, err := applyYAML(t, admin, shopManifests); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Delete(ctx, "namespaces", "default", "shop"); err != nil {
		t.Fatal(err)
	}
	if objs := tc.store.State().AllObjects(); len(objs) != 0 {
		t.Errorf("left after deleting the namespace: %v", objs)
	}
	if _, err := admin.Delete(ctx, "namespaces", "", "default"); err == nil {
		t.Error("deleted the default namespace")
	}
}

func TestRotateSecretKey(t *testing.T) {
	tc := newTestCluster(t, Config{})
	admin := tc.user(t, "admin")
	ctx := context.Background()
	if _, err := applyYAML(t, admin, shopManifests); err != nil {
		t.Fatal(err)
	}
	old := tc.store.State().Trust().SecretKeyID
	if _, err := tc.user(t, "edit").RotateSecretKey(ctx); err == nil {
		t.Error("edit rotated the secret key")
	}
	res, err := admin.RotateSecretKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := tc.store.State()
	sec, _ := st.Object(cluster.KindSecret, "shop", "db")
	id, _ := seal.KeyID(sec.Sealed)
	if res.Resealed != 1 || res.KeyID == old || st.Trust().SecretKeyID != res.KeyID || id != res.KeyID {
		t.Fatalf("rotation %+v; active %s, secret sealed with %s (old %s)", res, st.Trust().SecretKeyID, id, old)
	}
	data, err := tc.secrets.Open("shop", "db", sec.Sealed)
	if err != nil || string(data["password"]) != "hunter2-plaintext" {
		t.Errorf("open after rotation: %q %v", data, err)
	}
	// Another node's agent learns the key from the nodes-only route.
	keys, err := tc.node(t, "n2").SecretKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Errorf("node fetch: %d keys, %v", len(keys), err)
	}
	if _, err := admin.SecretKeys(ctx); err == nil {
		t.Error("a user read the secret keys")
	}
	var he *apiclient.StatusError
	if _, err := tc.user(t, "view").SecretKeys(ctx); !errors.As(err, &he) {
		t.Errorf("view: %v", err)
	}
}

// TestSecretsAtRest greps a real Raft data dir (raft.db and snapshots)
// for a Secret's value, in clear and in base64, after an apply, a key
// rotation and a snapshot; a ConfigMap value written the same way is the
// control that the grep finds what is there.
func TestSecretsAtRest(t *testing.T) {
	dir := t.TempDir()
	store, err := consensus.Open(consensus.Config{NodeID: "n1", DataDir: dir, BindAddr: "127.0.0.1:0", Bootstrap: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	poll.Until(t, 10*time.Second, "leadership", poll.Bool(store.IsLeader))
	tc := newTestCluster(t, Config{Store: store})
	admin := tc.user(t, "admin")
	const secret, control = "s3cr3t-Value-9f8e7d", "plain-Control-1a2b3c"
	manifests := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: api}
stringData: {token: %s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {v: %s}
`, secret, control)
	if _, err := applyYAML(t, admin, manifests); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RotateSecretKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := store.Snapshot(); err != nil {
		t.Fatal(err)
	}
	needles := map[string]bool{secret: false, base64.StdEncoding.EncodeToString([]byte(secret)): false, control: false}
	files := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		for n := range needles {
			if bytes.Contains(b, []byte(n)) {
				needles[n] = true
				t.Logf("%s holds %q", path, n)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !needles[control] {
		t.Fatalf("the control value is in none of the %d files: the grep proves nothing", files)
	}
	for n, found := range needles {
		if found && n != control {
			t.Errorf("%q is stored in clear", n)
		}
	}
}

// TestDrainKeepsBudgets: drain cordons the node and evicts what the
// PodDisruptionBudget allows; the rest is named with the reason, and a
// second drain after the budget recovers takes it.
func TestDrainKeepsBudgets(t *testing.T) {
	tc := newTestCluster(t, Config{})
	admin := tc.user(t, "admin")
	ctx := context.Background()
	tc.apply(t, &consensus.PutNode{Node: &cluster.Node{Name: "n1", Status: cluster.NodeReady,
		Allocatable: cluster.Resources{MilliCPU: 4000, Memory: 8 << 30}}})
	var refs []cluster.PodRef
	var pods []*cluster.Pod
	for _, name := range []string{"zk-0", "zk-1"} {
		p := &cluster.Pod{Namespace: "default", Name: name, UID: "uid-" + name, Ordinal: -1, Labels: map[string]string{"app": "zk"},
			Spec: cluster.PodSpec{Containers: []cluster.Container{{Name: "c", Image: "busybox"}}}}
		pods, refs = append(pods, p), append(refs, p.Ref())
	}
	tc.apply(t, &consensus.PutPods{Pods: pods})
	tc.apply(t, &consensus.ApplyPlan{Plan: &cluster.Plan{Place: []cluster.Placement{{Pod: refs[0], Node: "n1"}, {Pod: refs[1], Node: "n1"}}}})
	running := cluster.PodStatus{Phase: cluster.PodRunning, Ready: true}
	tc.apply(t, &consensus.PodStatus{Node: "n1", Updates: []cluster.PodStatusUpdate{{Ref: refs[0], Status: running}, {Ref: refs[1], Status: running}}})
	if _, err := applyYAML(t, admin, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: zk}\nspec:\n  selector: {matchLabels: {app: zk}}\n  minAvailable: 1\n"); err != nil {
		t.Fatal(err)
	}
	l, err := admin.Objects(ctx, "poddisruptionbudgets", "default")
	if err != nil || len(l.Items) != 1 || l.Items[0].Budget == nil || l.Items[0].Budget.DisruptionsAllowed != 1 {
		t.Fatalf("budget listing %+v %v", l, err)
	}
	res, err := admin.Drain(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := "pod default/zk-1: evicting it would violate PodDisruptionBudget zk (needs 1 healthy pods and has 1)"
	if res.Evicted != 1 || len(res.Blocked) != 1 || res.Blocked[0] != want {
		t.Fatalf("drain: %+v", res)
	}
	if n, _ := tc.store.State().Node("n1"); !n.Unschedulable {
		t.Error("drain did not cordon the node")
	}
	// The evicted pod is gone and the budget has nothing to spare: a
	// second drain keeps the last pod. Once it is not ready, the budget is
	// broken anyway and Kubernetes' IfHealthyBudget keeps it too.
	if res, err := admin.Drain(ctx, "n1"); err != nil || res.Evicted != 0 || len(res.Blocked) != 1 {
		t.Errorf("second drain: %+v %v", res, err)
	}
}
