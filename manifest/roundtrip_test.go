package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// ignoredOnPurpose lists the fields Shoal accepts and drops, each for a
// reason the README gives ("Fields accepted and ignored"). Patterns match
// a leaf's path with list indexes as [*].
var ignoredOnPurpose = []string{
	// Written by Kubernetes, not by users: an object read from a cluster
	// applies again.
	`^metadata\.(uid|resourceVersion|creationTimestamp|generation|managedFields)`,
	`^status(\.|$)`,
	`\.template\.metadata\.(creationTimestamp|name)$`,
	`^spec\.volumeClaimTemplates\[\*\]\.(status|metadata\.creationTimestamp)`,
	// A Secret's stringData is merged into data (shown base64, as
	// Kubernetes shows it).
	`^stringData\.`,
	// Only a Kubernetes Progressing condition; Shoal's rollouts never stop.
	`^spec\.progressDeadlineSeconds$`,
	// Restate what Shoal does anyway (see security.go).
	`securityContext\.fsGroupChangePolicy$`,
	`securityContext\.supplementalGroupsPolicy$`,
	`securityContext\.appArmorProfile\.type$`,
}

// TestNoSilentDrops is the "no silent drops" check: every manifest in the
// test data that Shoal accepts is decoded, converted to Shoal's types and
// printed back as `get -o yaml` does; every value the input set must come
// back at the same path, equal, unless listed in ignoredOnPurpose.
func TestNoSilentDrops(t *testing.T) {
	ignore := make([]*regexp.Regexp, len(ignoredOnPurpose))
	for i, p := range ignoredOnPurpose {
		ignore[i] = regexp.MustCompile(p)
	}
	checked := 0
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(path)) {
			return err
		}
		data := mustRead(t, path)
		if _, err := Decode(data, path); err != nil {
			return nil // refused files are the corpus test's business
		}
		docs, _ := split(data)
		for i, doc := range docs {
			objs, err := Decode(doc.text, path)
			if err != nil || len(objs) != 1 {
				continue // empty, or a List
			}
			in := toGeneric(t, doc.text)
			out := toGeneric(t, mustJSON(t, encodeObject(objs[0])))
			for _, d := range drops(in, out, "") {
				if !slices.ContainsFunc(ignore, func(re *regexp.Regexp) bool { return re.MatchString(d.path) }) {
					t.Errorf("%s: document %d (%s %q): %s: %s", path, i+1, objs[0].Kind, objs[0].Name, d.path, d.msg)
				}
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d documents checked: the test data moved?", checked)
	}
	t.Logf("%d documents round-tripped", checked)
}

// encodeObject prints an object as `get -o yaml` does.
func encodeObject(o Object) any {
	switch {
	case o.Workload != nil:
		return WorkloadToK8s(o.Workload, nil)
	case o.Pod != nil:
		return PodToK8s(o.Pod)
	case o.Service != nil:
		return ServiceToK8s(o.Service)
	}
	return ObjectToK8s(o.Generic, o.SecretData)
}

type drop struct{ path, msg string }

// drops lists the leaves of in that out lacks or changed. Paths use [*]
// for list indexes so that ignore patterns stay simple.
func drops(in, out any, p string) []drop {
	switch v := in.(type) {
	case map[string]any:
		om, _ := out.(map[string]any)
		var ds []drop
		for _, k := range slices.Sorted(maps.Keys(v)) {
			ds = append(ds, drops(v[k], om[k], join(p, k))...)
		}
		return ds
	case []any:
		ol, _ := out.([]any)
		var ds []drop
		for i, e := range v {
			var oe any
			if i < len(ol) {
				oe = ol[i]
			}
			ds = append(ds, drops(e, oe, p+"[*]")...)
		}
		return ds
	}
	if sameLeaf(in, out) || (strings.Contains(p, ".capabilities.") && capName(in) == capName(out)) {
		return nil
	}
	if out == nil {
		return []drop{{p, fmt.Sprintf("%v is dropped", in)}}
	}
	return []drop{{p, fmt.Sprintf("%v comes back as %v", in, out)}}
}

// capName is a capability as the kernel names it: Kubernetes writes
// "NET_ADMIN", "CAP_NET_ADMIN" or "all" for the same thing.
func capName(v any) string {
	return strings.TrimPrefix(strings.ToUpper(fmt.Sprint(v)), "CAP_")
}

func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}

// sameLeaf compares scalars the way Kubernetes means them: a zero value
// equals an omitted field, quantities compare by value ("0.5" is "500m"),
// and a number equals its string form (an int-or-string port).
func sameLeaf(in, out any) bool {
	if out == nil {
		switch v := in.(type) {
		case nil:
			return true
		case bool:
			return !v
		case float64:
			return v == 0
		case string:
			return v == ""
		}
		return false
	}
	if fmt.Sprint(in) == fmt.Sprint(out) {
		return true
	}
	a, errA := resource.ParseQuantity(fmt.Sprint(in))
	b, errB := resource.ParseQuantity(fmt.Sprint(out))
	return errA == nil && errB == nil && a.Cmp(b) == 0
}

func toGeneric(t *testing.T, doc []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
