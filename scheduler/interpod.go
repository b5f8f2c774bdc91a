package scheduler

import (
	"maps"
	"slices"

	"shoal/cluster"
)

// Inter-pod rules: pod affinity, pod anti-affinity and topology spread
// constraints. Whether a node passes them depends on where matching pods
// run, so the pass keeps counts, updated as each pod is placed: per group
// of pods (label selectors in some namespaces) how many run on each node
// and in each domain of a topology key (the nodes sharing one value of a
// label). A check is then a few array reads, not a walk over the pods.

// hostnameKey falls back to the node's name on a node without the label,
// as every Kubernetes node has it.
const hostnameKey = "kubernetes.io/hostname"

// topology numbers the values of one node label.
type topology struct {
	dom []int32 // per node index: its domain, -1 without the label
	n   int32   // number of domains
	// identity: node i is domain i (every node has its own value, the
	// hostname's case).
	identity bool
}

// groupTerm is one selector of a group with the namespaces it looks in.
type groupTerm struct {
	sel *cluster.LabelSelector
	all bool     // every namespace
	ns  []string // else these
}

func (g *groupTerm) matches(ns string, labels map[string]string) bool {
	return (g.all || slices.Contains(g.ns, ns)) && g.sel.Matches(labels)
}

// podGroup counts the pods that match all its terms.
type podGroup struct {
	terms []groupTerm
	// all counts per node index every placed pod; staying leaves out the
	// pods being stopped, which topology spread ignores as Kubernetes does.
	all, staying []int32
	counts       []*domainCount
	spreads      []*spreadCount
}

// domainCount is a group's pods per domain of a topology.
type domainCount struct {
	topo  *topology
	n     []int32
	total int32 // pods on nodes that have the label
}

// antiTerm counts, per domain, the placed pods that carry one required
// anti-affinity term: a pod the term matches may not join them there.
type antiTerm struct {
	term groupTerm
	topo *topology
	n    []int32
}

// spreadCount is a group's pods per domain over the nodes one topology
// spread constraint counts (its node inclusion policies), with the
// smallest count among the domains that have such a node.
type spreadCount struct {
	g       *podGroup
	topo    *topology
	elig    []bool // per node index
	n       []int32
	live    []bool // domains with an eligible node
	domains int32
	min     int32
	atMin   int32 // live domains whose count is min
}

// placedPod is a pod on a node, as groups made later in the pass count it.
type placedPod struct {
	ns      string
	labels  map[string]string
	node    int32
	leaving bool
}

// interPod holds the pass's inter-pod counts.
type interPod struct {
	nodes     []nodeInfo
	topos     map[string]*topology
	groups    map[string]*podGroup
	groupList []*podGroup
	antis     map[string]*antiTerm
	antiList  []*antiTerm
	spreads   map[string]*spreadCount
	placed    []placedPod
	// byLabel indexes placed by label key and value, so that a group made
	// late in the pass looks at the pods it may match, not at all.
	byLabel map[string]map[string][]int32
	// nsLabels are the namespaces' labels, for namespaceSelectors.
	nsLabels map[string]map[string]string
	buf      []byte
}

func newInterPod(nodes []nodeInfo, st *cluster.State) *interPod {
	nsLabels := map[string]map[string]string{}
	for _, ns := range cluster.BuiltinNamespaces {
		nsLabels[ns] = map[string]string{cluster.LabelNamespaceName: ns}
	}
	for _, o := range st.Objects(cluster.KindNamespace, "") {
		l := maps.Clone(o.Labels)
		if l == nil {
			l = map[string]string{}
		}
		l[cluster.LabelNamespaceName] = o.Name // as Kubernetes sets it
		nsLabels[o.Name] = l
	}
	return &interPod{
		nsLabels: nsLabels,
		nodes:    nodes, topos: map[string]*topology{}, groups: map[string]*podGroup{},
		antis: map[string]*antiTerm{}, spreads: map[string]*spreadCount{},
		byLabel: map[string]map[string][]int32{},
	}
}

// topologyOf numbers the values of node label key, once per pass.
func (ip *interPod) topologyOf(key string) *topology {
	if t, ok := ip.topos[key]; ok {
		return t
	}
	t := &topology{dom: make([]int32, len(ip.nodes))}
	ids := map[string]int32{}
	for i := range ip.nodes {
		n := ip.nodes[i].node
		v, ok := n.Labels[key]
		if !ok && key == hostnameKey {
			v, ok = n.Name, true
		}
		if !ok {
			t.dom[i] = -1
			continue
		}
		id, seen := ids[v]
		if !seen {
			id = t.n
			ids[v] = id
			t.n++
		}
		t.dom[i] = id
	}
	t.identity = true
	for i, d := range t.dom {
		if d != int32(i) {
			t.identity = false
			break
		}
	}
	ip.topos[key] = t
	return t
}

// record adds a pod placed on node i: to every group it matches (m, as
// synced by the caller), and to the domains of its own required
// anti-affinity terms.
func (ip *interPod) record(pod placedPod, member []*podGroup, own []*antiTerm) {
	for k, v := range pod.labels {
		vals := ip.byLabel[k]
		if vals == nil {
			vals = map[string][]int32{}
			ip.byLabel[k] = vals
		}
		vals[v] = append(vals[v], int32(len(ip.placed)))
	}
	ip.placed = append(ip.placed, pod)
	for _, g := range member {
		g.add(pod.node, pod.leaving)
	}
	for _, a := range own {
		if d := a.topo.dom[pod.node]; d >= 0 {
			a.n[d]++
		}
	}
}

func (g *podGroup) add(i int32, leaving bool) {
	g.all[i]++
	for _, c := range g.counts {
		if d := c.topo.dom[i]; d >= 0 {
			c.n[d]++
			c.total++
		}
	}
	if leaving {
		return
	}
	g.staying[i]++
	for _, sc := range g.spreads {
		sc.add(i)
	}
}

func (g *podGroup) matches(ns string, labels map[string]string) bool {
	for i := range g.terms {
		if !g.terms[i].matches(ns, labels) {
			return false
		}
	}
	return true
}

// group finds or makes the group of terms; a new one counts the pods
// placed so far.
func (ip *interPod) group(terms []groupTerm) *podGroup {
	b := ip.buf[:0]
	for i := range terms {
		b = groupTermKey(b, &terms[i])
	}
	ip.buf = b
	if g, ok := ip.groups[string(b)]; ok {
		return g
	}
	g := &podGroup{terms: terms, all: make([]int32, len(ip.nodes)), staying: make([]int32, len(ip.nodes))}
	for _, pp := range ip.candidates(terms) {
		if g.matches(pp.ns, pp.labels) {
			g.all[pp.node]++
			if !pp.leaving {
				g.staying[pp.node]++
			}
		}
	}
	ip.groups[string(b)] = g
	ip.groupList = append(ip.groupList, g)
	return g
}

// candidates are the placed pods that may match terms: those with the
// rarest of the first term's matchLabels pairs, or all.
func (ip *interPod) candidates(terms []groupTerm) []placedPod {
	if len(terms) == 0 || terms[0].sel == nil || len(terms[0].sel.MatchLabels) == 0 {
		return ip.placed
	}
	var best []int32
	first := true
	for k, v := range terms[0].sel.MatchLabels {
		if idx := ip.byLabel[k][v]; first || len(idx) < len(best) {
			best, first = idx, false
		}
	}
	out := make([]placedPod, len(best))
	for j, x := range best {
		out[j] = ip.placed[x]
	}
	return out
}

// countsFor is the group's count per domain of topo.
func (g *podGroup) countsFor(topo *topology) *domainCount {
	for _, c := range g.counts {
		if c.topo == topo {
			return c
		}
	}
	c := &domainCount{topo: topo, n: make([]int32, topo.n)}
	for i, k := range g.all {
		if d := topo.dom[i]; d >= 0 && k > 0 {
			c.n[d] += k
			c.total += k
		}
	}
	g.counts = append(g.counts, c)
	return c
}

// antiTermOf finds or makes the registry entry of a required
// anti-affinity term carried by pods.
func (ip *interPod) antiTermOf(term groupTerm, topoKey string) *antiTerm {
	b := groupTermKey(ip.buf[:0], &term)
	b = append(b, '@')
	b = append(b, topoKey...)
	ip.buf = b
	if a, ok := ip.antis[string(b)]; ok {
		return a
	}
	topo := ip.topologyOf(topoKey)
	a := &antiTerm{term: term, topo: topo, n: make([]int32, topo.n)}
	ip.antis[string(b)] = a
	ip.antiList = append(ip.antiList, a)
	return a
}

// spreadFor finds or makes the count of group g over topo among the
// nodes elig accepts; key names elig.
func (ip *interPod) spreadFor(g *podGroup, topo *topology, key string, elig func(i int) bool) *spreadCount {
	if sc, ok := ip.spreads[key]; ok {
		return sc
	}
	sc := &spreadCount{g: g, topo: topo, elig: make([]bool, len(ip.nodes)), n: make([]int32, topo.n), live: make([]bool, topo.n)}
	for i := range ip.nodes {
		d := topo.dom[i]
		if d < 0 || !elig(i) {
			continue
		}
		sc.elig[i] = true
		if !sc.live[d] {
			sc.live[d] = true
			sc.domains++
		}
		sc.n[d] += g.staying[i]
	}
	sc.rescan()
	g.spreads = append(g.spreads, sc)
	ip.spreads[key] = sc
	return sc
}

func (sc *spreadCount) add(i int32) {
	if !sc.elig[i] {
		return
	}
	d := sc.topo.dom[i]
	sc.n[d]++
	if sc.n[d]-1 == sc.min {
		sc.atMin--
		if sc.atMin == 0 {
			sc.rescan()
		}
	}
}

// rescan finds the smallest count; it runs when the last domain at the
// old minimum grew, so about once per round of placements.
func (sc *spreadCount) rescan() {
	sc.min, sc.atMin = 0, 0
	first := true
	for d, live := range sc.live {
		switch {
		case !live:
		case first || sc.n[d] < sc.min:
			sc.min, sc.atMin, first = sc.n[d], 1, false
		case sc.n[d] == sc.min:
			sc.atMin++
		}
	}
}

// groupTermKey appends a form of g to b that tells terms apart (strings
// are 0-terminated).
func groupTermKey(b []byte, g *groupTerm) []byte {
	b = append(b, '[')
	if g.all {
		b = append(b, '*')
	}
	for _, ns := range g.ns {
		b = append(b, ns...)
		b = append(b, 0)
	}
	b = append(b, ':')
	b = labelSelectorKey(b, g.sel)
	return append(b, ']')
}

// labelSelectorKey appends a form of s to b ("-" for nil, which matches
// nothing, unlike the empty selector).
func labelSelectorKey(b []byte, s *cluster.LabelSelector) []byte {
	if s == nil {
		return append(b, '-')
	}
	b = append(b, '{')
	b = selectorKey(b, s.MatchLabels)
	for _, r := range s.MatchExpressions {
		b = requirementKey(b, r.Key, r.Operator, r.Values)
	}
	return append(b, '}')
}
