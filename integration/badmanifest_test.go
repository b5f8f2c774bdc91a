package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A valid document that rides along in every bad file: the apply is all or
// nothing, so it must not appear either.
const bystander = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bystander
spec:
  replicas: 1
  selector:
    matchLabels: {app: bystander}
  template:
    metadata:
      labels: {app: bystander}
    spec:
      containers:
        - name: main
          image: IMAGE
---
`

// TestBadManifests: each broken manifest is refused with one clear error
// that names the file and what is wrong, exits non-zero, and changes
// nothing (not even the valid document beside it).
func TestBadManifests(t *testing.T) {
	a, image := startOne(t)
	// Something to stay unchanged.
	a.Apply(t, manifest(webDeployment, image))
	a.WaitPods(t, 3, Labeled("app", "web"))
	objects := func() []string { return names(t, a, "deployments", "statefulsets", "services", "pods") }
	want := objects()

	cases := []struct {
		name string
		doc  string
		// mention is what the error must name (case-insensitive).
		mention string
	}{
		{"unknown-field", `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replicaz: 2
  selector:
    matchLabels: {app: typo}
  template:
    metadata:
      labels: {app: typo}
    spec:
      containers:
        - {name: main, image: IMAGE}
`, "replicaz"},
		{"bad-quantity", `
apiVersion: v1
kind: Pod
metadata:
  name: badqty
spec:
  containers:
    - name: main
      image: IMAGE
      resources:
        limits: {memory: 12XB}
`, "12XB"},
		{"broken-yaml", `
apiVersion: v1
kind: Pod
metadata:
  name: broken
 spec:
  containers: [ {name: main, image: IMAGE
`, "yaml"},
		{"missing-image", `
apiVersion: v1
kind: Pod
metadata:
  name: noimage
spec:
  containers:
    - name: main
`, "image"},
		{"duplicate-names", `
apiVersion: v1
kind: Pod
metadata:
  name: twin
spec:
  containers:
    - {name: main, image: IMAGE}
---
apiVersion: v1
kind: Pod
metadata:
  name: twin
spec:
  containers:
    - {name: main, image: IMAGE}
`, "twin"},
		{"unknown-kind", `
apiVersion: v1
kind: Frobnicator
metadata:
  name: frob
`, "Frobnicator"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name+".yaml")
			if err := os.WriteFile(file, []byte(manifest(bystander+c.doc, image)), 0o644); err != nil {
				t.Fatal(err)
			}
			r := a.Run("apply", "-f", file)
			if r.Code == 0 {
				t.Fatalf("apply -f %s succeeded; want an error\nstdout: %s", c.name, r.Stdout)
			}
			msg := strings.TrimSpace(r.Stderr)
			t.Logf("apply -f %s: exit %d: %s", filepath.Base(file), r.Code, msg)
			var errLines int
			for _, line := range strings.Split(msg, "\n") {
				if strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "error") {
					errLines++
				}
			}
			if errLines != 1 {
				t.Errorf("want one error, got %d lines starting with error:\n%s", errLines, msg)
			}
			if !strings.Contains(msg, filepath.Base(file)) {
				t.Errorf("the error does not name the file %s:\n%s", filepath.Base(file), msg)
			}
			if !strings.Contains(strings.ToLower(msg), strings.ToLower(c.mention)) {
				t.Errorf("the error does not mention %q:\n%s", c.mention, msg)
			}
			if got := objects(); !slices.Equal(got, want) {
				t.Errorf("objects changed by a failed apply:\nbefore %v\nafter  %v", want, got)
			}
		})
	}
}
