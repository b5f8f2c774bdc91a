// Package manifest converts Kubernetes YAML (a subset: apps/v1 Deployment
// and StatefulSet, v1 Pod and Service) into Shoal's cluster types, and
// cluster types back into Kubernetes-shaped objects for `shoal get -o`.
//
// Decoding is strict on purpose: a Kubernetes user applies manifests written
// for Kubernetes, and a field Shoal does not implement must be refused with
// its full path rather than silently dropped, or the user would run
// something other than what they wrote. Every error names the file, the
// document, the object, the line and the field.
//
// Each document goes through the same stages:
//
//  1. YAML → JSON (sigs.k8s.io/yaml, as kubectl does; duplicate keys refused);
//  2. a shape check of the generic JSON against the real Kubernetes Go type,
//     so unknown fields, wrong types and bad quantities are reported with
//     their path (encoding/json alone reports neither index nor path);
//  3. a typed decode into k8s.io/api types;
//  4. a walk of the typed object against Shoal's list of supported fields;
//  5. conversion to cluster types with Kubernetes' defaults, and validation.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"shoal/cluster"
)

// Kinds Shoal supports, as they appear in Object.Kind.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindReplicaSet  = "ReplicaSet"
	KindPod         = "Pod"
	KindService     = "Service"
)

// Object is one decoded document. Exactly one of Workload, Pod, Service and
// Generic is set, according to Kind.
type Object struct {
	Source string // file name, or "<stdin>"
	Doc    int    // 1-based, counting only non-empty documents
	Line   int    // line of the document's first content line in Source
	Kind   string
	// Namespace and Name identify the object (namespace defaulted).
	Namespace, Name string
	Workload        *cluster.Workload
	Pod             *cluster.Pod
	Service         *cluster.Service
	// Generic is a ConfigMap, Secret, Namespace or API-only object. A
	// Secret's data is in SecretData, in clear: the agent seals it into
	// Generic.Sealed before it is stored.
	Generic    *cluster.Object
	SecretData map[string][]byte
}

// Where describes the object's place for messages: `web.yaml: document 2
// (StatefulSet "db", line 14)`.
func (o *Object) Where() string {
	return fmt.Sprintf("%s: document %d (%s %q, line %d)", o.Source, o.Doc, o.Kind, o.Name, o.Line)
}

// Error is one problem with one document. Decode and Load return several
// of them joined with errors.Join; use errors.As to get the first.
type Error struct {
	Source string
	// Doc is the document's number, 0 for a problem between documents.
	Doc int
	// Line is the line of the offending field when it could be found,
	// otherwise of the document's start.
	Line int
	// Kind and Name are empty when the document could not be decoded far
	// enough to know them.
	Kind, Name string
	// Path is the field's path in Kubernetes notation
	// (spec.template.spec.containers[0].image); empty for whole-document
	// problems.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Doc == 0 { // a problem between documents
		fmt.Fprintf(&b, "%s: line %d: ", e.Source, e.Line)
	} else {
		fmt.Fprintf(&b, "%s: document %d (", e.Source, e.Doc)
		if e.Kind != "" {
			fmt.Fprintf(&b, "%s %q, ", e.Kind, e.Name)
		}
		fmt.Fprintf(&b, "line %d): ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// StdinName is the Source of objects read from "-".
const StdinName = "<stdin>"

// Load reads manifests the way `kubectl apply -f` does: each path is a file,
// a directory (its *.yaml, *.yml and *.json files in name order, not
// recursive) or "-" for stdin. Objects come back in the order they were
// read. Nothing is returned unless everything decodes: an apply is all or
// nothing.
func Load(paths []string, stdin io.Reader) ([]Object, error) {
	var objs []Object
	var errs []error
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var data []byte
			var err error
			source := f
			if f == "-" {
				source = StdinName
				if stdin == nil {
					return nil, errors.New("manifest: no stdin to read \"-\" from")
				}
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				return nil, fmt.Errorf("manifest: read %s: %w", source, err)
			}
			o, err := decode(data, source)
			objs = append(objs, o...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, duplicates(objs)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

// expand turns one -f argument into the files it names.
func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("manifest: %s: no *.yaml, *.yml or *.json files", p)
	}
	return files, nil
}

// Decode decodes one file of `---`-separated documents. Empty and
// comment-only documents are skipped. Duplicate objects within the file
// are an error.
func Decode(data []byte, source string) ([]Object, error) {
	objs, err := decode(data, source)
	errs := duplicates(objs)
	if err != nil {
		errs = append([]error{err}, errs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

// decode returns the objects that decoded and the joined errors of the
// others; the caller decides whether a partial result is of any use (it is
// for the duplicate check, never for an apply).
func decode(data []byte, source string) ([]Object, error) {
	docs, err := split(data)
	if err != nil {
		return nil, &Error{Source: source, Line: err.line, Msg: err.msg}
	}
	var objs []Object
	var errs []error
	n := 0
	for _, d := range docs {
		j, yerr := yaml.YAMLToJSONStrict(d.text)
		if yerr == nil && isEmptyJSON(j) {
			continue
		}
		n++
		doc := &document{source: source, num: n, text: d.text, offset: d.first - 1, line: contentLine(d)}
		if yerr != nil {
			errs = append(errs, doc.yamlError(yerr))
			continue
		}
		o, derr := doc.decode(j)
		objs = append(objs, o...)
		if derr != nil {
			errs = append(errs, derr)
		}
	}
	return objs, errors.Join(errs...)
}

func isEmptyJSON(j []byte) bool {
	j = bytes.TrimSpace(j)
	return len(j) == 0 || string(j) == "null"
}

type rawDoc struct {
	text  []byte
	first int // file line of the document's first line
}

type splitError struct {
	line int
	msg  string
}

// split cuts a file into documents at lines starting with "---", as
// kubectl's YAML reader does: only spaces or a comment may follow the
// separator on its line.
func split(data []byte) ([]rawDoc, *splitError) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var docs []rawDoc
	cur := rawDoc{first: 1}
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("---")) {
			rest := bytes.TrimSpace(l[3:])
			if len(rest) > 0 && rest[0] != '#' {
				return nil, &splitError{line: i + 1, msg: fmt.Sprintf("invalid YAML: content after the document separator: %q", strings.TrimSpace(string(l)))}
			}
			docs = append(docs, cur)
			cur = rawDoc{first: i + 2}
			continue
		}
		cur.text = append(cur.text, l...)
	}
	return append(docs, cur), nil
}

// contentLine is the file line of the document's first line that is not
// blank, a comment or a directive: where a reader sees it begin.
func contentLine(d rawDoc) int {
	for i, l := range bytes.Split(d.text, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' && t[0] != '%' {
			return d.first + i
		}
	}
	return d.first
}

// document is one document being decoded, for locating its errors.
type document struct {
	source     string
	num        int
	text       []byte
	offset     int // file line = document line + offset
	line       int
	kind, name string
	// prefix is "items[i]" while decoding an item of a List.
	prefix string
	lines  *lineIndex // built on first use
}

var yamlLineRE = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: (?:unmarshal errors:\n\s*)?line (\d+): `)

// yamlError reports a syntax error at its line in the file, not in the
// document the parser saw.
func (d *document) yamlError(err error) error {
	msg := err.Error()
	line := d.line
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = n + d.offset
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{Source: d.source, Doc: d.num, Line: line, Msg: "invalid YAML: " + msg}
}

// errorAt locates a problem with one field.
func (d *document) errorAt(path, msg string) *Error {
	switch {
	case d.prefix == "":
	case path == "" || path[0] == '[':
		path = d.prefix + path
	default:
		path = d.prefix + "." + path
	}
	line := d.line
	if l := d.lineOf(path); l > 0 {
		line = l
	}
	return &Error{Source: d.source, Doc: d.num, Line: line, Kind: d.kind, Name: d.name, Path: path, Msg: msg}
}

// lineOf returns the file line of a path, or 0 when it cannot be found.
func (d *document) lineOf(path string) int {
	if d.lines == nil {
		d.lines = newLineIndex(d.text)
	}
	if l := d.lines.find(path); l > 0 {
		return l + d.offset
	}
	return 0
}

// MaxErrors is how many problems of one object are reported; the rest
// are counted in a last line, so that a file written for another system
// does not bury the first problems under thousands.
const MaxErrors = 50

// fieldErrors turns collected problems into located errors, in the order
// they appear in the file so the first one reported is the first one a
// reader meets.
func (d *document) fieldErrors(fes []fieldError) error {
	if len(fes) == 0 {
		return nil
	}
	errs := make([]*Error, len(fes))
	for i, fe := range fes {
		errs[i] = d.errorAt(fe.path, fe.msg)
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	n := min(len(errs), MaxErrors)
	out := make([]error, n, n+1)
	for i, e := range errs[:n] {
		out[i] = e
	}
	if more := len(errs) - n; more > 0 {
		last := d.errorAt("", fmt.Sprintf("and %d more problems", more))
		last.Path = ""
		out = append(out, last)
	}
	return errors.Join(out...)
}

// duplicates refuses two objects of the same kind, namespace and name in
// one apply: which one should win is a guess.
func duplicates(objs []Object) []error {
	seen := map[string]*Object{}
	var errs []error
	for i := range objs {
		o := &objs[i]
		k := o.Kind + "/" + cluster.Key(o.Namespace, o.Name)
		if first, ok := seen[k]; ok {
			errs = append(errs, &Error{Source: o.Source, Doc: o.Doc, Line: o.Line, Kind: o.Kind, Name: o.Name,
				Msg: fmt.Sprintf("%s %q in namespace %q is defined twice: also in %s: document %d (line %d)",
					o.Kind, o.Name, o.Namespace, first.Source, first.Doc, first.Line)})
			continue
		}
		seen[k] = o
	}
	return errs
}
