package apiserver

import (
	"context"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/agent/apiclient"
)

const hostPathPod = `apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  containers: [{name: c, image: busybox:1, volumeMounts: [{name: h, mountPath: /h}]}]
  volumes: [{name: h, hostPath: {path: PATH}}]
`

const privilegedDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: priv}
spec:
  selector: {matchLabels: {app: priv}}
  template:
    metadata: {labels: {app: priv}}
    spec:
      containers: [{name: c, image: busybox:1, securityContext: {privileged: true}}]
`

// TestPodSecurityAdmission: what the policy refuses is refused at apply,
// naming the field, the level and how to allow it, and nothing of that
// apply is stored; an admin changes the policy, others may only read it.
func TestPodSecurityAdmission(t *testing.T) {
	tc := newTestCluster(t, Config{})
	ctx := context.Background()
	admin, edit := tc.user(t, "admin"), tc.user(t, "edit")
	apply := func(doc string) error {
		_, err := edit.Apply(ctx, []api.File{{Name: "p.yaml", Data: doc}})
		return err
	}
	p, err := edit.Policy(ctx)
	if err != nil || p.Level != "baseline" {
		t.Fatalf("default policy %+v %v", p, err)
	}
	err = apply(strings.Replace(hostPathPod, "PATH", "/", 1) + "---\n" + deployment)
	if err == nil || !strings.Contains(err.Error(), "p.yaml: document 1") || !strings.Contains(err.Error(), "pod hp: spec.volumes[0].hostPath.path") ||
		!strings.Contains(err.Error(), "baseline") {
		t.Fatalf("hostPath / under baseline: %v", err)
	}
	if _, ok := tc.store.State().Pod("default", "hp"); ok || len(tc.store.State().Workloads()) != 0 {
		t.Fatal("a refused apply stored something")
	}
	err = apply(privilegedDeployment)
	if err == nil || !strings.Contains(err.Error(), "deployment priv: spec.template.spec.containers[0].securityContext.privileged") ||
		!strings.Contains(err.Error(), "shoal policy set --level privileged") {
		t.Fatalf("privileged under baseline: %v", err)
	}
	if err := edit.SetPolicy(ctx, api.Policy{Level: "privileged"}); err == nil {
		t.Error("an edit token changed the policy")
	}
	if err := admin.SetPolicy(ctx, api.Policy{Level: "privileged"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(privilegedDeployment); err != nil {
		t.Fatalf("privileged under privileged: %v", err)
	}
	if err := admin.SetPolicy(ctx, api.Policy{Level: "baseline", AllowedHostPaths: []string{"/srv/shoal"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(strings.Replace(hostPathPod, "PATH", "/srv/shoal/data", 1)); err != nil {
		t.Fatalf("hostPath under an allowed directory: %v", err)
	}
	if err := admin.SetPolicy(ctx, api.Policy{Level: "wide open"}); err == nil || !strings.Contains(err.Error(), "expected privileged, baseline or restricted") {
		t.Errorf("bad level: %v", err)
	}
	if err := admin.SetPolicy(ctx, api.Policy{Level: "restricted"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(deployment); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("an unhardened deployment under restricted: %v", err)
	}
}

// TestNamespacePodSecurity: a Namespace's enforce label sets the level of
// the pods in it, from the same apply on; tightening is anyone's, loosening
// an admin's only.
func TestNamespacePodSecurity(t *testing.T) {
	tc := newTestCluster(t, Config{})
	ctx := context.Background()
	admin, edit := tc.user(t, "admin"), tc.user(t, "edit")
	ns := func(name, level string) string {
		return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + ", labels: {pod-security.kubernetes.io/enforce: " + level + "}}\n"
	}
	in := func(doc, name string) string {
		return strings.Replace(doc, "metadata: {name: priv}", "metadata: {name: priv, namespace: "+name+"}", 1)
	}
	tests := []struct {
		name   string
		client *apiclient.Client
		doc    string
		want   string // "" accepts
	}{
		{"edit may not loosen", edit, ns("tools", "privileged") + "---\n" + in(privilegedDeployment, "tools"),
			`"privileged" is looser than the cluster's level "baseline": only an admin may loosen`},
		{"admin may, for the same apply's pods", admin, ns("tools", "privileged") + "---\n" + in(privilegedDeployment, "tools"), ""},
		{"the label holds for later applies", edit, strings.Replace(in(privilegedDeployment, "tools"), "name: priv,", "name: priv2,", 1), ""},
		{"other namespaces keep the cluster level", edit, ns("apps", "baseline") + "---\n" + in(privilegedDeployment, "apps"),
			"securityContext.privileged"},
		{"edit may tighten", edit, ns("strict", "restricted") + "---\n" + in(strings.Replace(deployment, "name: web\n", "name: web\n  namespace: strict\n", 1), "strict"),
			"restricted"},
		{"a bad level", admin, ns("odd", "open"), "metadata.labels[pod-security.kubernetes.io/enforce]: level \"open\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.Apply(ctx, []api.File{{Name: "ns.yaml", Data: tt.doc}})
			if tt.want == "" && err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
