package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const svcDoc = `apiVersion: v1
kind: Service
metadata:
  name: db
  namespace: prod
spec:
  selector: {app: db}
  ports: [{port: 5432}]
`

func TestDecodeMultiDoc(t *testing.T) {
	in := "# leading comment\n---\n---\n# only a comment\n---\n" + deploy + "---   # trailing comment\n\n" + svcDoc + "---\n"
	objs, err := Decode([]byte(in), "all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2", len(objs))
	}
	// Documents are numbered among the non-empty ones; lines count in the file.
	if o := objs[0]; o.Kind != KindDeployment || o.Doc != 1 || o.Line != 6 || o.Name != "web" || o.Namespace != "default" {
		t.Errorf("first: %+v", o)
	}
	if o := objs[1]; o.Kind != KindService || o.Doc != 2 || o.Line != 28 || o.Name != "db" || o.Namespace != "prod" || o.Service == nil {
		t.Errorf("second: %+v", o)
	}
	if got := objs[1].Where(); got != `all.yaml: document 2 (Service "db", line 28)` {
		t.Errorf("Where: %s", got)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# nothing\n", "---\n---\n", "---\n# a\n---\n  \n"} {
		objs, err := Decode([]byte(in), "e.yaml")
		if err != nil || len(objs) != 0 {
			t.Errorf("Decode(%q) = %v, %v; want nothing", in, objs, err)
		}
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yml", svcDoc)
	write(t, dir, "a.yaml", deploy)
	write(t, dir, "c.json", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}`)
	write(t, dir, "notes.txt", "not a manifest")
	write(t, dir, "sub/d.yaml", "kind: ConfigMap\n") // not recursive
	objs, err := Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, filepath.Base(o.Source)+":"+o.Kind)
	}
	if want := "a.yaml:Deployment b.yml:Service c.json:Pod"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	if p := objs[2].Pod; p.Ordinal != -1 || p.Spec.Containers[0].ImagePullPolicy != "Always" {
		t.Errorf("pod: %+v", p)
	}
}

func TestLoadStdinAndFiles(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "web.yaml", deploy)
	objs, err := Load([]string{f, "-"}, strings.NewReader(svcDoc))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[1].Source != StdinName || objs[1].Kind != KindService {
		t.Fatalf("got %+v", objs)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", deploy)
	b := write(t, dir, "b.yaml", svcDoc+"---\n"+deploy)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"duplicate across files", []string{a, b},
			b + `: document 2 (Deployment "web", line 10): Deployment "web" in namespace "default" is defined twice: also in ` + a + `: document 1 (line 1)`},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")},
			"manifest: stat " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"empty directory", []string{empty}, "manifest: " + empty + ": no *.yaml, *.yml or *.json files"},
		{"stdin error", []string{"-"}, `<stdin>: document 1 (line 1): invalid YAML: did not find expected node content`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Load(tt.paths, strings.NewReader("[\n"))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load = %d objects, %v\nwant %s", len(objs), err, tt.want)
			}
		})
	}
}
