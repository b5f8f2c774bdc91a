package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The corpus in testdata/corpus is real manifests from public repositories,
// unmodified (see its SOURCES.md and README.md). TestCorpus measures how much
// of it Shoal accepts and ranks what refuses the rest, so that work on the
// decoder goes where users are blocked. It does not pin today's refusals:
// the only thing that fails is a file that used to be accepted whole and no
// longer is (accepted.txt), so accepting more never breaks it.

var updateCorpus = flag.Bool("update-corpus", false,
	"rewrite testdata/corpus/accepted.txt with the corpus files that decode whole")

const (
	corpusDir      = "testdata/corpus"
	corpusAccepted = corpusDir + "/accepted.txt"
	corpusSources  = corpusDir + "/SOURCES.md"
	// A GPU file is one that asks for NVIDIA GPUs the way real manifests do.
	corpusGPUMarker = "nvidia.com/gpu"
)

// corpusFile is what decoding one corpus file found.
type corpusFile struct {
	name string // base name in corpusDir
	gpu  bool
	// errs are the whole-file Decode's errors (nil: accepted): they include
	// what only the whole file can show, such as an object defined twice.
	errs []*Error
	docs []corpusDoc
}

// corpusDoc is one non-empty document decoded on its own.
type corpusDoc struct {
	kind string // "" when the document could not be decoded far enough
	errs []*Error
}

func (f *corpusFile) accepted() bool { return len(f.errs) == 0 }

func TestCorpus(t *testing.T) {
	files := decodeCorpus(t)
	t.Log("\n" + corpusReport(files))

	accepted := map[string]bool{}
	for _, f := range files {
		if f.accepted() {
			accepted[f.name] = true
		}
	}
	listed := readAcceptedList(t)

	if *updateCorpus {
		for _, name := range listed {
			if !accepted[name] {
				t.Logf("removing %s from accepted.txt: it is no longer accepted", name)
			}
		}
		writeAcceptedList(t, accepted)
		return
	}

	byName := map[string]*corpusFile{}
	for i := range files {
		byName[files[i].name] = &files[i]
	}
	for _, name := range listed {
		f, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("accepted.txt lists %s, which is not in %s", name, corpusDir)
		case !f.accepted():
			t.Errorf("regression: %s was accepted whole and no longer is:\n%s", name, joinErrors(f.errs))
		}
	}
	var newly []string
	for name := range accepted {
		if !slices.Contains(listed, name) {
			newly = append(newly, name)
		}
	}
	if len(newly) > 0 {
		slices.Sort(newly)
		t.Logf("newly accepted, not yet in accepted.txt (run `go test ./manifest -run TestCorpus -update-corpus` to record them): %s",
			strings.Join(newly, ", "))
	}
}

// decodeCorpus decodes every corpus file whole, as `shoal apply -f` would,
// and document by document, for the per-document numbers.
func decodeCorpus(t *testing.T) []corpusFile {
	t.Helper()
	names := corpusFileNames(t)
	var files []corpusFile
	for _, name := range names {
		path := filepath.Join(corpusDir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f := corpusFile{name: name, gpu: bytes.Contains(data, []byte(corpusGPUMarker))}
		if _, err := Decode(data, path); err != nil {
			f.errs = flattenErrors(err)
		}
		f.docs = decodeDocuments(data, path)
		files = append(files, f)
	}
	return files
}

// decodeDocuments decodes each document alone, cut by the package's own
// splitter so that the count matches what Decode sees. A document that
// yields neither an object nor an error is empty and not counted.
func decodeDocuments(data []byte, path string) []corpusDoc {
	raw, serr := split(data)
	if serr != nil {
		// The file cannot be cut into documents: count it as one refused.
		return []corpusDoc{{errs: []*Error{{Source: path, Line: serr.line, Msg: serr.msg}}}}
	}
	var docs []corpusDoc
	for _, r := range raw {
		objs, err := Decode(r.text, path)
		if len(objs) == 0 && err == nil {
			continue
		}
		d := corpusDoc{}
		if err != nil {
			d.errs = flattenErrors(err)
			for _, e := range d.errs {
				if e.Kind != "" {
					d.kind = e.Kind
					break
				}
			}
		} else {
			d.kind = objs[0].Kind
		}
		docs = append(docs, d)
	}
	return docs
}

func corpusFileNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries { // sorted by name
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			names = append(names, e.Name())
		}
	}
	return names
}

// flattenErrors undoes errors.Join at every depth (Decode joins per-document
// errors that are themselves joined per-field errors).
func flattenErrors(err error) []*Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		return []*Error{e}
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, sub := range u.Unwrap() {
			out = append(out, flattenErrors(sub)...)
		}
		return out
	}
	// Not one of ours: keep it, unlocated, so it still shows in the ranking.
	return []*Error{{Msg: err.Error()}}
}

func joinErrors(errs []*Error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\t" + e.Error() + "\n")
	}
	return b.String()
}

// blockerKey names what refused a document, coarsely enough that the same
// missing feature in different files and fields counts as one blocker.
func blockerKey(e *Error) string {
	if rest, ok := strings.CutPrefix(e.Msg, "unknown kind "); ok {
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			kind, _ := strconv.Unquote(q)
			return "kind " + kind
		}
	}
	last := lastSegment(e.Path)
	if strings.HasPrefix(e.Msg, "not supported by Shoal") {
		return last
	}
	if last == "" {
		last = "document"
	}
	return last + ": " + shortMessage(e.Msg)
}

// lastSegment is the last field of a path, skipping list indexes:
// spec.template.spec.containers[0].env[2].valueFrom -> valueFrom.
func lastSegment(path string) string {
	segs := segments(path)
	for i := len(segs) - 1; i >= 0; i-- {
		if _, err := strconv.Atoi(segs[i]); err != nil {
			return segs[i]
		}
	}
	return ""
}

// shortMessage drops a message's explanation (after " (" or ": ") so that
// keys group; the names of objects defined twice would split a key per file.
func shortMessage(msg string) string {
	if strings.Contains(msg, " is defined twice") {
		return "object defined twice"
	}
	if i := strings.Index(msg, " ("); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, ": "); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return msg
}

type blocker struct {
	key         string
	files, docs int
}

// rankBlockers counts, for each blocker, the files it refuses (from the
// whole-file errors) and the documents (from the per-document ones), most
// files first.
func rankBlockers(files []corpusFile) []blocker {
	byKey := map[string]*blocker{}
	get := func(k string) *blocker {
		if byKey[k] == nil {
			byKey[k] = &blocker{key: k}
		}
		return byKey[k]
	}
	for _, f := range files {
		seen := map[string]bool{}
		for _, e := range f.errs {
			k := blockerKey(e)
			if !seen[k] {
				seen[k] = true
				get(k).files++
			}
		}
		for _, d := range f.docs {
			seen := map[string]bool{}
			for _, e := range d.errs {
				k := blockerKey(e)
				if !seen[k] {
					seen[k] = true
					get(k).docs++
				}
			}
		}
	}
	var out []blocker
	for _, b := range byKey {
		out = append(out, *b)
	}
	slices.SortFunc(out, func(a, b blocker) int {
		if a.files != b.files {
			return b.files - a.files
		}
		if a.docs != b.docs {
			return b.docs - a.docs
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

func ratio(n, of int) string {
	if of == 0 {
		return "0/0"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", n, of, 100*float64(n)/float64(of))
}

func corpusReport(files []corpusFile) string {
	var wholeOK, docs, docsOK, gpu, gpuOK, deps, depsOK int
	for _, f := range files {
		if f.accepted() {
			wholeOK++
		}
		if f.gpu {
			gpu++
			if f.accepted() {
				gpuOK++
			}
		}
		for _, d := range f.docs {
			docs++
			if len(d.errs) == 0 {
				docsOK++
			}
			if d.kind == KindDeployment {
				deps++
				if len(d.errs) == 0 {
					depsOK++
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "corpus: %d files in %s\n", len(files), corpusDir)
	fmt.Fprintf(&b, "whole files accepted:     %s\n", ratio(wholeOK, len(files)))
	fmt.Fprintf(&b, "documents accepted:       %s\n", ratio(docsOK, docs))
	fmt.Fprintf(&b, "GPU files (%s) accepted: %s\n", corpusGPUMarker, ratio(gpuOK, gpu))
	fmt.Fprintf(&b, "Deployment documents accepted: %s\n", ratio(depsOK, deps))
	b.WriteString("blockers, by files refused (documents refused):\n")
	for i, bl := range rankBlockers(files) {
		fmt.Fprintf(&b, "%3d. %-50s %3d files (%d docs)\n", i+1, bl.key, bl.files, bl.docs)
	}
	b.WriteString("files:\n")
	for _, f := range files {
		ok := 0
		for _, d := range f.docs {
			if len(d.errs) == 0 {
				ok++
			}
		}
		status := "refused"
		if f.accepted() {
			status = "ok"
		}
		gpuMark := ""
		if f.gpu {
			gpuMark = " [gpu]"
		}
		fmt.Fprintf(&b, "  %-7s %2d/%-2d docs  %s%s\n", status, ok, len(f.docs), f.name, gpuMark)
	}
	return b.String()
}

// readAcceptedList reads accepted.txt: one file name a line, # comments.
func readAcceptedList(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(corpusAccepted)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	return names
}

func writeAcceptedList(t *testing.T, accepted map[string]bool) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Corpus files that manifest.Decode accepts whole. TestCorpus fails if one\n")
	b.WriteString("# of them stops being accepted. Regenerate with:\n")
	b.WriteString("#   go test ./manifest -run TestCorpus -update-corpus\n")
	names := make([]string, 0, len(accepted))
	for name := range accepted {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b.WriteString(name + "\n")
	}
	if err := os.WriteFile(corpusAccepted, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d files", corpusAccepted, len(names))
}

// TestCorpusSources keeps the corpus large enough to mean something and
// every file traceable to where it came from.
func TestCorpusSources(t *testing.T) {
	names := corpusFileNames(t)
	if len(names) < 40 {
		t.Errorf("corpus has %d files, want at least 40", len(names))
	}
	rows := readSourcesTable(t)
	for _, name := range names {
		row, ok := rows[name]
		if !ok {
			t.Errorf("%s has no row in SOURCES.md", name)
			continue
		}
		for i, col := range []string{"repository", "path", "commit", "license"} {
			if row[i] == "" {
				t.Errorf("SOURCES.md: %s has no %s", name, col)
			}
		}
		if fi, err := os.Stat(filepath.Join(corpusDir, name)); err == nil && fi.Size() > 100<<10 {
			t.Errorf("%s is %d bytes: the corpus takes files up to 100 KB", name, fi.Size())
		}
	}
	for name := range rows {
		if !slices.Contains(names, name) {
			t.Errorf("SOURCES.md lists %s, which is not in %s", name, corpusDir)
		}
	}
}

// readSourcesTable maps each file of SOURCES.md's table to its other cells
// (repository, path, commit, license).
func readSourcesTable(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(corpusSources)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.Trim(strings.TrimSpace(c), "`"))
		}
		// The header and its separator row name no corpus file.
		if len(cells) < 5 || !strings.HasSuffix(cells[0], ".yaml") && !strings.HasSuffix(cells[0], ".yml") {
			continue
		}
		rows[cells[0]] = cells[1:5]
	}
	return rows
}

func TestCorpusBlockerKey(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"unknown kind", Error{Msg: `unknown kind "ConfigMap" (Shoal supports Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Service, ConfigMap, Secret, Namespace, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, PodDisruptionBudget)`}, "kind ConfigMap"},
		{"unsupported field with hint",
			Error{Path: "spec.template.spec.containers[0].env[1].valueFrom", Msg: "not supported by Shoal (only literal values: Shoal has no ConfigMaps or Secrets)"},
			"valueFrom"},
		{"unsupported field ending in an index",
			Error{Path: "spec.template.spec.tolerations[0]", Msg: "not supported by Shoal"}, "tolerations"},
		{"map key", Error{Path: "spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]", Msg: "not supported by Shoal"}, "nvidia.com/gpu"},
		{"value refused",
			Error{Path: "spec.type", Msg: `"LoadBalancer" is not supported by Shoal (ClusterIP or NodePort)`},
			`type: "LoadBalancer" is not supported by Shoal`},
		{"apiVersion",
			Error{Path: "apiVersion", Msg: `"extensions/v1beta1" is not supported for Deployment (Shoal supports apps/v1)`},
			`apiVersion: "extensions/v1beta1" is not supported for Deployment`},
		{"unknown field", Error{Path: "spec.template.spec.containers[0].foo", Msg: "unknown field"}, "foo: unknown field"},
		{"whole document", Error{Msg: `Deployment "a" in namespace "default" is defined twice: also in x.yaml: document 1 (line 1)`}, "document: object defined twice"},
		{"yaml", Error{Msg: `invalid YAML: could not find expected ':'`}, `document: invalid YAML`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blockerKey(&tt.err); got != tt.want {
				t.Errorf("blockerKey(%+v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
