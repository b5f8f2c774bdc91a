package apiserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"shoal/agent/api"
	"shoal/agent/apiclient"
	"shoal/cluster"
	"shoal/metrics"
)

// MetricsSource is this node's resource usage (the sampler's
// metrics.Recorder).
type MetricsSource interface {
	Report(span time.Duration) metrics.Report
}

// metricsFetchTimeout bounds how long a cluster-wide `top` waits for one
// node: a node that does not answer is left out with a warning.
const metricsFetchTimeout = 5 * time.Second

// errNoMetrics answers when this agent samples nothing (yet).
var errNoMetrics = errors.New("this agent samples no metrics")

// handleInternalMetrics gives this node's own report to another agent,
// which is gathering the cluster's.
func (s *Server) handleInternalMetrics(w http.ResponseWriter, r *http.Request) {
	span, err := parseSpan(r.URL.Query().Get("span"))
	if err != nil {
		fail(w, err)
		return
	}
	if s.cfg.Metrics == nil {
		writeError(w, http.StatusServiceUnavailable, errNoMetrics)
		return
	}
	writeJSON(w, s.cfg.Metrics.Report(span))
}

func parseSpan(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, badRequest{fmt.Errorf("span %q: expected a duration such as 30s", v)}
	}
	return d, nil
}

// gather asks nodes for their reports: this node's recorder directly,
// the others' agents over mutual TLS with this node's certificate (as
// agents call each other's internal routes), 5 s each at most.
func (s *Server) gather(ctx context.Context, nodes []string) ([]metrics.Report, error) {
	var local func(time.Duration) metrics.Report
	if s.cfg.Metrics != nil {
		local = s.cfg.Metrics.Report
	}
	fetch := apiclient.MetricsFetch(s.cfg.Store.State(), s.cfg.NodeName, local, s.agentHTTP, 0, metricsFetchTimeout)
	return metrics.Gather(ctx, nodes, fetch)
}

// warn sends each node's failure as a Warning header (`299 - "text"`, as
// Kubernetes' API warns); the answer holds what the other nodes said.
func warn(w http.ResponseWriter, err error) {
	var ge *metrics.GatherError
	if !errors.As(err, &ge) {
		return
	}
	for _, e := range ge.Errs {
		w.Header().Add("Warning", "299 - "+strconv.Quote(e.Error()))
	}
}

// liveNodes are the nodes worth asking: a Down node is not.
func liveNodes(st *cluster.State, only func(*cluster.Node) bool) []string {
	var out []string
	for _, n := range st.Nodes() {
		if n.Status != cluster.NodeDown && (only == nil || only(n)) {
			out = append(out, n.Name)
		}
	}
	return out
}

func (s *Server) handleNodeMetrics(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Store.State()
	name := r.PathValue("name")
	var nodes []string
	if name != "" {
		if _, ok := st.Node(name); !ok {
			fail(w, fmt.Errorf("node %q: %w", name, errNotFound))
			return
		}
		nodes = []string{name}
	} else {
		nodes = liveNodes(st, nil)
	}
	reports, err := s.gather(r.Context(), nodes)
	out := api.NodeMetricsList{Kind: api.KindNodeMetricsList, APIVersion: api.MetricsAPIVersion, Items: []api.NodeMetrics{}}
	for _, rep := range reports {
		if !rep.NodeOK {
			continue
		}
		nm := api.NodeMetricsOf(rep)
		if n, ok := st.Node(rep.Node); ok {
			nm.Metadata.Labels = n.Labels
		}
		out.Items = append(out.Items, nm)
	}
	if name == "" {
		warn(w, err)
		writeJSON(w, out)
		return
	}
	if len(out.Items) == 0 {
		notAvailable(w, "node", name, err)
		return
	}
	writeJSON(w, out.Items[0])
}

func (s *Server) handlePodMetrics(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Store.State()
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if name == "" {
		ns = r.URL.Query().Get("namespace")
	}
	// Only the nodes running the pods asked for.
	want := map[string]*cluster.Pod{} // by UID
	hosts := map[string]bool{}
	for p := range st.Pods() {
		if (ns != "" && p.Namespace != ns) || (name != "" && p.Name != name) || p.NodeName == "" {
			continue
		}
		want[p.UID] = p
		hosts[p.NodeName] = true
	}
	if name != "" && len(want) == 0 {
		fail(w, fmt.Errorf("pod %q in namespace %q: %w", name, ns, errNotFound))
		return
	}
	reports, err := s.gather(r.Context(), liveNodes(st, func(n *cluster.Node) bool { return hosts[n.Name] }))
	out := api.PodMetricsList{Kind: api.KindPodMetricsList, APIVersion: api.MetricsAPIVersion, Items: []api.PodMetrics{}}
	for _, rep := range reports {
		for _, pu := range rep.Pods {
			p, ok := want[pu.UID]
			if !ok || p.NodeName != rep.Node {
				continue
			}
			pm := api.PodMetricsOf(pu)
			pm.Metadata.Labels = p.Labels
			out.Items = append(out.Items, pm)
		}
	}
	slices.SortFunc(out.Items, func(a, b api.PodMetrics) int {
		return cmp.Or(cmp.Compare(a.Metadata.Namespace, b.Metadata.Namespace), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	if name == "" {
		warn(w, err)
		writeJSON(w, out)
		return
	}
	if len(out.Items) == 0 {
		notAvailable(w, "pod", name, err)
		return
	}
	writeJSON(w, out.Items[0])
}

// notAvailable answers a query for one node's or pod's metrics that has
// none: its node did not answer (503), or has not two samples yet (404).
func notAvailable(w http.ResponseWriter, what, name string, err error) {
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("metrics of %s %s are not available: %w", what, name, err))
		return
	}
	fail(w, fmt.Errorf("metrics of %s %s are not available yet (its node has not sampled it twice): %w", what, name, errNotFound))
}
