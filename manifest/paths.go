package manifest

import (
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Paths are written as Kubernetes writes them in its errors:
// spec.template.spec.containers[0].resources.limits[nvidia.com/gpu].
// A map key that is not a plain identifier goes in brackets.

var plainKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// field appends a struct field or map key to a path.
func field(p, name string) string {
	if !plainKeyRE.MatchString(name) {
		return p + "[" + name + "]"
	}
	if p == "" {
		return name
	}
	return p + "." + name
}

// index appends a list index to a path.
func index(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

// segments splits a path back into keys and indexes (both as strings).
func segments(p string) []string {
	var out []string
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// lineIndex finds the line of a path in a document. It parses the document
// a second time with yaml.v3, whose nodes carry positions; the values come
// from sigs.k8s.io/yaml (kubectl's YAML dialect), so this is only used to
// point at lines and gives up quietly where the parsers disagree.
type lineIndex struct {
	root *yamlv3.Node
}

func newLineIndex(text []byte) *lineIndex {
	var n yamlv3.Node
	if err := yamlv3.Unmarshal(text, &n); err != nil || len(n.Content) == 0 {
		return &lineIndex{}
	}
	return &lineIndex{root: n.Content[0]}
}

// find returns the document line of the deepest node on path that exists
// (the key's line for a mapping entry), or 0.
func (li *lineIndex) find(p string) int {
	n := li.root
	if n == nil {
		return 0
	}
	line := n.Line
	for _, seg := range segments(p) {
		for n.Kind == yamlv3.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yamlv3.Node
		switch n.Kind {
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yamlv3.SequenceNode:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}
