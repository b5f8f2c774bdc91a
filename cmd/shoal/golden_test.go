package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shoal/agent/api"
	"shoal/cluster"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with what the printers print now")

// checkGolden compares got with testdata/<name>.golden, or rewrites the file
// under -update. Review the rewritten goldens' diff before committing them:
// they are the CLI's output as users see it.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/shoal -run Golden -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (- golden, + got; go test ./cmd/shoal -run Golden -update accepts it):\n%s",
			path, lineDiff(string(want), string(got)))
	}
}

// lineDiff marks the lines only in want with "-" and those only in got with
// "+", keeping the common ones (a longest common subsequence) as context:
// enough to see which column of which row moved.
func lineDiff(want, got string) string {
	a, b := splitLines(want), splitLines(got)
	// common[i][j] is the length of the longest common subsequence of
	// a[i:] and b[j:].
	common := make([][]int, len(a)+1)
	for i := range common {
		common[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				common[i][j] = common[i+1][j+1] + 1
			} else {
				common[i][j] = max(common[i+1][j], common[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			sb.WriteString("  " + a[i] + "\n")
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || common[i][j+1] > common[i+1][j]):
			sb.WriteString("+ " + b[j] + "\n")
			j++
		default:
			sb.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return sb.String()
}

// splitLines splits s into lines, marking a last line without a newline so
// that a missing final newline shows in the diff.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if last := len(lines) - 1; lines[last] == "" {
		lines = lines[:last]
	} else {
		lines[last] += " (no newline at end)"
	}
	return lines
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, want, got, diff string
	}{
		{"equal", "a\nb\n", "a\nb\n", "  a\n  b\n"},
		{"changed line", "NAME  AGE\nweb   3h\n", "NAME  AGE\nweb   4h\n", "  NAME  AGE\n- web   3h\n+ web   4h\n"},
		{"added line", "a\nc\n", "a\nb\nc\n", "  a\n+ b\n  c\n"},
		{"removed line", "a\nb\nc\n", "a\nc\n", "  a\n- b\n  c\n"},
		{"no final newline", "a\n", "a", "- a\n+ a (no newline at end)\n"},
		{"empty golden", "", "a\n", "+ a\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := lineDiff(tc.want, tc.got); d != tc.diff {
				t.Errorf("lineDiff(%q, %q) =\n%s\nwant\n%s", tc.want, tc.got, d, tc.diff)
			}
		})
	}
}

func inNamespace(pods []*cluster.Pod, ns string) []*cluster.Pod {
	var out []*cluster.Pod
	for _, p := range pods {
		if p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out
}

func TestGetGolden(t *testing.T) {
	f := fixtures(goldenNow)
	pods := inNamespace(f.pods, "default")
	tests := []struct {
		golden string
		kind   string
		output string
		table  *table
	}{
		// Every pod state of the fixtures: Pending for room and for a Down
		// node's volume, CrashLoopBackOff after OOM kills, OOMKilled,
		// a sidecar, ContainerCreating, Terminating.
		{"get-pods", "pods", "", podTable(pods, false, goldenNow)},
		{"get-pods-wide", "pods", "wide", podTable(pods, false, goldenNow)},
		{"get-pods-all-namespaces-wide", "pods", "wide", podTable(f.pods, true, goldenNow)},
		{"get-pods-name", "pods", "name", podTable(pods, false, goldenNow)},
		{"get-pods-empty", "pods", "", podTable(nil, false, goldenNow)},
		{"get-pods-empty-wide", "pods", "wide", podTable(nil, true, goldenNow)},
		// A leader, a voter, a Down node out of the Raft configuration and
		// a cordoned nonvoter; two of them with GPUs.
		{"get-nodes", "nodes", "", nodeTable(f.nodes)},
		{"get-nodes-wide", "nodes", "wide", nodeTable(f.nodes)},
		{"get-nodes-empty", "nodes", "", nodeTable(nil)},
		{"get-deployments", "deployments", "", workloadTable("deployments", f.deployments, pods, goldenNow)},
		{"get-deployments-wide", "deployments", "wide", workloadTable("deployments", f.deployments, pods, goldenNow)},
		{"get-statefulsets", "statefulsets", "", workloadTable("statefulsets", f.statefulsets, pods, goldenNow)},
		{"get-statefulsets-wide", "statefulsets", "wide", workloadTable("statefulsets", f.statefulsets, pods, goldenNow)},
		{"get-statefulsets-empty", "statefulsets", "", workloadTable("statefulsets", nil, nil, goldenNow)},
		{"get-services", "services", "", serviceTable(f.services)},
		{"get-services-wide", "services", "wide", serviceTable(f.services)},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			r, err := parseKind(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := show(&b, r, tc.table, tc.output, false); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
}

func TestDescribeGolden(t *testing.T) {
	f := fixtures(goldenNow)
	pods := inNamespace(f.pods, "default")
	// The cases look their objects up before any subtest runs, so that a
	// fixture renamed by mistake fails the test here.
	podCase := func(name string) func(io.Writer) error {
		p := mustFind(t, f.pods, name, func(p *cluster.Pod) string { return p.Name })
		return func(w io.Writer) error { return describePod(w, p) }
	}
	nodeCase := func(name string) func(io.Writer) error {
		v := mustFind(t, f.nodes, name, func(v api.NodeView) string { return v.Node.Name })
		// describe node lists the pods of every namespace.
		return func(w io.Writer) error { return describeNode(w, v, f.pods) }
	}
	workloadCase := func(l []api.WorkloadView, name string) func(io.Writer) error {
		v := mustFind(t, l, name, func(v api.WorkloadView) string { return v.Workload.Name })
		return func(w io.Writer) error { return describeWorkload(w, v, pods) }
	}
	serviceCase := func(name string) func(io.Writer) error {
		s := mustFind(t, f.services, name, func(s *cluster.Service) string { return s.Name })
		return func(w io.Writer) error { return describeService(w, s, pods) }
	}
	tests := []struct {
		golden string
		print  func(io.Writer) error
	}{
		{"describe-pod-running", podCase("web-7d4b9c-x2k8p")},
		{"describe-pod-terminating", podCase("web-6c5d8b-r4n2m")},
		{"describe-pod-pending", podCase("web-7d4b9c-q9z7f")},
		{"describe-pod-crashloop-oomkilled", podCase("api-5f6c8d-mmx4t")},
		{"describe-pod-oomkilled", podCase("resize-images")},
		{"describe-pod-sidecar", podCase("shop-6b8f94-k7wqz")},
		{"describe-pod-init-done", podCase("ledger-8c7d5f-5tq2w")},
		{"describe-pod-volume-wait", podCase("db-1")},
		{"describe-pod-gpu", podCase("trainer-0")},
		{"describe-pod-creating", podCase("notebook")},
		{"describe-node-gpu-leader", nodeCase("gpu-1")},
		{"describe-node-voter", nodeCase("node-b")},
		{"describe-node-down", nodeCase("node-c")},
		{"describe-node-cordoned", nodeCase("node-d")},
		{"describe-deployment", workloadCase(f.deployments, "shop")},
		{"describe-deployment-recreate", workloadCase(f.deployments, "api")},
		{"describe-statefulset", workloadCase(f.statefulsets, "db")},
		{"describe-service", serviceCase("web")},
		{"describe-service-headless", serviceCase("db")},
		{"describe-service-nodeport", serviceCase("dns")},
		{"describe-service-loadbalancer", serviceCase("shop")},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.print(&b); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
}

func mustFind[T any](t *testing.T, items []T, name string, nameOf func(T) string) T {
	t.Helper()
	l := named(items, name, nameOf)
	if len(l) != 1 {
		t.Fatalf("fixtures have %d objects called %q, want 1", len(l), name)
	}
	return l[0]
}

func TestHistoryGolden(t *testing.T) {
	tests := []struct {
		golden string
		h      api.RolloutHistory
	}{
		{"rollout-history", api.RolloutHistory{Limit: 10, Revisions: []api.RevisionInfo{
			{Revision: 2}, {Revision: 3, ChangeCause: "kubectl set image deployment/web web=nginx:1.26"},
			{Revision: 12, ChangeCause: "back to 1.25", Current: true},
		}}},
		{"rollout-history-limit-0", api.RolloutHistory{Limit: 0, Revisions: []api.RevisionInfo{{Revision: 4, Current: true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := printHistory(&b, "deployment.apps/web", &tc.h); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, b.Bytes())
		})
	}
}
