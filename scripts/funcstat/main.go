// Command funcstat prints, for every Go function in the tree, its length in
// lines and its branch count, and fails when one exceeds the limits without
// being listed as wiring. `make lint` runs it.
//
// Branches are counted as cyclomatic complexity is: one per if, for, range,
// non-default case or select clause, && and ||. Generated files and tests
// are left out: the limits keep product code readable, and table-driven
// tests are long by design.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// wiring names the functions allowed past the limits: linear start-up code
// that reads best as one sequence ("pkg.Func" or "pkg.Type.Method"). None
// needs it today: the agent's start-up is split into its control plane
// and its node parts.
var wiring = map[string]bool{}

type stat struct {
	pos      token.Position
	name     string
	lines    int
	branches int
}

func main() {
	maxLines := flag.Int("lines", 100, "longest function allowed")
	maxBranches := flag.Int("branches", 30, "most branches allowed in a function")
	top := flag.Int("top", 10, "print this many of the longest and most branching functions")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	stats, err := collect(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funcstat:", err)
		os.Exit(2)
	}
	print := func(title string, less func(a, b stat) bool) {
		sort.Slice(stats, func(i, j int) bool { return less(stats[i], stats[j]) })
		fmt.Println(title)
		for _, s := range stats[:min(*top, len(stats))] {
			fmt.Printf("  %4d lines %3d branches  %s  %s\n", s.lines, s.branches, s.name, s.pos)
		}
	}
	print("funcstat: longest functions", func(a, b stat) bool { return a.lines > b.lines })
	print("funcstat: most branches", func(a, b stat) bool { return a.branches > b.branches })
	bad := 0
	for _, s := range stats {
		if s.lines <= *maxLines && s.branches <= *maxBranches {
			continue
		}
		if wiring[s.name] {
			fmt.Printf("funcstat: %s is wiring (%d lines, %d branches): allowed\n", s.name, s.lines, s.branches)
			continue
		}
		fmt.Printf("funcstat: %s (%s) has %d lines and %d branches: limits are %d and %d\n", s.name, s.pos, s.lines, s.branches, *maxLines, *maxBranches)
		bad++
	}
	fmt.Printf("funcstat: %d functions, %d over the limits\n", len(stats), bad)
	if bad > 0 {
		os.Exit(1)
	}
}

func collect(root string) ([]stat, error) {
	var out []stat
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
			out = append(out, stat{
				pos:      start,
				name:     funcName(f.Name.Name, fn),
				lines:    end.Line - start.Line + 1,
				branches: branches(fn.Body),
			})
		}
		return nil
	})
	return out, err
}

func funcName(pkg string, fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return pkg + "." + fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return pkg + "." + id.Name + "." + fn.Name.Name
	}
	return pkg + "." + fn.Name.Name
}

// branches counts decision points in body, closures included: a closure's
// branches are read as part of the function that holds it.
func branches(body *ast.BlockStmt) int {
	n := 0
	ast.Inspect(body, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}
