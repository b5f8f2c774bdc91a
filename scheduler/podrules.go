package scheduler

import (
	"slices"
	"strconv"

	"shoal/cluster"
)

// podRules are a shape's inter-pod rules, resolved to the pass's counts.
// Pods of one shape share labels, namespace and rules.
type podRules struct {
	ns     string
	labels map[string]string
	// member are the groups this shape's pods belong to, and hit the
	// registered anti-affinity terms that match them, each synced with
	// the pass's lists up to seenGroups and seenAnti.
	member     []*podGroup
	seenGroups int
	hit        []domCheck
	seenAnti   int
	// own are the pods' required anti-affinity terms, recorded where a
	// pod lands so that later pods keep away (the rule is symmetric).
	own []*antiTerm
	// anti and aff count, per domain, the pods the required anti-affinity
	// terms (each) and affinity terms (all together) select; affSelf is
	// whether the pods match all their own affinity terms.
	anti    []domCheck
	aff     []*domainCount
	affSelf bool
	prefer  []weightedCount
	hard    []spreadRule
	soft    []spreadRule
	// transient: a filter may refuse a node now and accept it later in
	// the pass (affinity, spread), so a refusal is not final.
	transient bool
	// maskTopo is the topology of hard[maskRule], the first DoNotSchedule
	// constraint with 64 domains at most (nil: none); see domainMask.
	maskTopo *topology
	maskRule int
	// waiting is why no node took the last pod of this shape, when
	// len(interPod.placed) was waitedAt.
	waiting  string
	waitedAt int
}

// weightedCount is a preferred term: w per selected pod in the domain
// (negative for anti-affinity).
type weightedCount struct {
	w int64
	c domCheck
}

// domCheck reads a count per domain for a node: the checks' hot path,
// flat (no pointer to follow) and, for a topology whose domains are the
// nodes themselves (the hostname), without the domain lookup.
type domCheck struct {
	dom []int32 // nil: node i is domain i
	n   []int32
}

func checkOf(t *topology, n []int32) domCheck {
	if t.identity {
		return domCheck{n: n}
	}
	return domCheck{dom: t.dom, n: n}
}

// count is the count in node i's domain, 0 for a node without the label.
func (c *domCheck) count(i int32) int32 {
	if c.dom == nil {
		return c.n[i]
	}
	if d := c.dom[i]; d >= 0 {
		return c.n[d]
	}
	return 0
}

// spreadRule is one topology spread constraint; self is 1 when the pod
// matches its own selector.
type spreadRule struct {
	sc         *spreadCount
	maxSkew    int32
	minDomains int32
	self       int32
}

// resolveTerm is the group term a pod's affinity term selects: its
// selector with matchLabelKeys merged, in the namespaces it names or its
// namespaceSelector selects now (the pod's own when neither is set; all
// with an empty selector).
func (ip *interPod) resolveTerm(t *cluster.PodAffinityTerm, pod *cluster.Pod) groupTerm {
	g := groupTerm{sel: t.Selector(pod.Labels)}
	ns := t.NamespaceSelector
	switch {
	case ns != nil && len(ns.MatchLabels)+len(ns.MatchExpressions) == 0:
		g.all = true
		return g
	case ns == nil && len(t.Namespaces) == 0:
		g.ns = []string{pod.Namespace}
		return g
	}
	g.ns = slices.Clone(t.Namespaces)
	for name, labels := range ip.nsLabels {
		if ns.Matches(labels) {
			g.ns = append(g.ns, name)
		}
	}
	g.ns = slices.Compact(slices.Sorted(slices.Values(g.ns)))
	return g
}

// rulesFor resolves pod's inter-pod rules for shape s; staticKey names
// the shape's node selector, affinity and tolerations.
func (t *nodeTable) rulesFor(pod *cluster.Pod, s *shape, staticKey string) *podRules {
	ip := t.ip
	r := &podRules{ns: pod.Namespace, labels: pod.Labels}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			r.affinity(ip, pa, pod)
			for _, w := range pa.Preferred {
				g := ip.group([]groupTerm{ip.resolveTerm(&w.Term, pod)})
				topo := ip.topologyOf(w.Term.TopologyKey)
				r.prefer = append(r.prefer, weightedCount{int64(w.Weight), checkOf(topo, g.countsFor(topo).n)})
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.Required {
				term := &pa.Required[i]
				gt := ip.resolveTerm(term, pod)
				topo := ip.topologyOf(term.TopologyKey)
				r.anti = append(r.anti, checkOf(topo, ip.group([]groupTerm{gt}).countsFor(topo).n))
				r.own = append(r.own, ip.antiTermOf(gt, term.TopologyKey))
			}
			for _, w := range pa.Preferred {
				g := ip.group([]groupTerm{ip.resolveTerm(&w.Term, pod)})
				topo := ip.topologyOf(w.Term.TopologyKey)
				r.prefer = append(r.prefer, weightedCount{-int64(w.Weight), checkOf(topo, g.countsFor(topo).n)})
			}
		}
	}
	r.spread(t, pod, s, staticKey)
	r.transient = len(r.aff) > 0 || len(r.hard) > 0
	for j, h := range r.hard {
		if h.sc.topo.n <= 64 {
			r.maskRule, r.maskTopo = j, h.sc.topo
			break
		}
	}
	return r
}

// affinity resolves the required pod affinity terms: a node passes when
// each term's domain holds a pod matching all of them.
func (r *podRules) affinity(ip *interPod, pa *cluster.PodAffinity, pod *cluster.Pod) {
	if len(pa.Required) == 0 {
		return
	}
	terms := make([]groupTerm, len(pa.Required))
	r.affSelf = true
	for i := range pa.Required {
		terms[i] = ip.resolveTerm(&pa.Required[i], pod)
		r.affSelf = r.affSelf && terms[i].matches(pod.Namespace, pod.Labels)
	}
	g := ip.group(terms)
	for i := range pa.Required {
		r.aff = append(r.aff, g.countsFor(ip.topologyOf(pa.Required[i].TopologyKey)))
	}
}

// spread resolves the topology spread constraints. A node counts for a
// constraint when it has the topology keys of all the pod's constraints
// of that kind and passes the node rules its policies honour.
func (r *podRules) spread(t *nodeTable, pod *cluster.Pod, s *shape, staticKey string) {
	ip := t.ip
	var hardKeys, softKeys []*topology
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable == cluster.ScheduleAnyway {
			softKeys = append(softKeys, ip.topologyOf(c.TopologyKey))
		} else {
			hardKeys = append(hardKeys, ip.topologyOf(c.TopologyKey))
		}
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		gt := groupTerm{sel: c.Selector(pod.Labels), ns: []string{pod.Namespace}}
		g := ip.group([]groupTerm{gt})
		soft := c.WhenUnsatisfiable == cluster.ScheduleAnyway
		keys := hardKeys
		if soft {
			keys = softKeys
		}
		honorAff, honorTaints := c.HonorsAffinity(), c.HonorsTaints()
		key := groupTermKey(nil, &gt)
		key = append(key, '@')
		key = append(key, c.TopologyKey...)
		key = strconv.AppendBool(key, soft)
		key = strconv.AppendBool(key, honorAff)
		key = strconv.AppendBool(key, honorTaints)
		if honorAff || honorTaints {
			key = append(key, staticKey...)
		}
		elig := func(i int) bool {
			ni := &t.infos[i]
			if honorAff && (!(selectorFilter{}).fits(ni, s) || !(affinityFilter{}).fits(ni, s)) {
				return false
			}
			if honorTaints && !(taintFilter{}).fits(ni, s) {
				return false
			}
			for _, k := range keys {
				if k.dom[i] < 0 {
					return false
				}
			}
			return true
		}
		rule := spreadRule{sc: ip.spreadFor(g, ip.topologyOf(c.TopologyKey), string(key), elig), maxSkew: c.MaxSkew}
		if c.MinDomains != nil {
			rule.minDomains = *c.MinDomains
		}
		if gt.matches(pod.Namespace, pod.Labels) {
			rule.self = 1
		}
		if soft {
			r.soft = append(r.soft, rule)
		} else {
			r.hard = append(r.hard, rule)
		}
	}
}

// sync adds the groups and anti-affinity terms made since the last call
// that this shape's pods match.
func (r *podRules) sync(ip *interPod) {
	for _, g := range ip.groupList[r.seenGroups:] {
		if g.matches(r.ns, r.labels) {
			r.member = append(r.member, g)
		}
	}
	r.seenGroups = len(ip.groupList)
	for _, a := range ip.antiList[r.seenAnti:] {
		if a.term.matches(r.ns, r.labels) {
			r.hit = append(r.hit, checkOf(a.topo, a.n))
		}
	}
	r.seenAnti = len(ip.antiList)
}

// affinityFits: every required affinity term's domain of node i holds a
// selected pod, or, for the first pod of a group with affinity to
// itself, no selected pod runs anywhere yet (Kubernetes' rule). Node i
// must have every term's topology label either way.
func (r *podRules) affinityFits(i int32) bool {
	exist := true
	for _, c := range r.aff {
		d := c.topo.dom[i]
		if d < 0 {
			return false
		}
		if c.n[d] == 0 {
			exist = false
		}
	}
	if exist {
		return true
	}
	if !r.affSelf {
		return false
	}
	for _, c := range r.aff {
		if c.total > 0 {
			return false
		}
	}
	return true
}

// antiFits: no required anti-affinity term's domain of node i holds a
// selected pod (a node without the label is no domain: it passes).
func (r *podRules) antiFits(i int32) bool {
	for j := range r.anti {
		if r.anti[j].count(i) > 0 {
			return false
		}
	}
	return true
}

// existingFits: no pod in node i's domains carries a required
// anti-affinity term that matches this shape's pods.
func (r *podRules) existingFits(i int32) bool {
	for j := range r.hit {
		if r.hit[j].count(i) > 0 {
			return false
		}
	}
	return true
}

// spreadLabelFits: node i has every DoNotSchedule constraint's key.
func (r *podRules) spreadLabelFits(i int32) bool {
	for _, h := range r.hard {
		if h.sc.topo.dom[i] < 0 {
			return false
		}
	}
	return true
}

// spreadFits: placing the pod on node i keeps every DoNotSchedule
// constraint's skew (its domain's count plus itself, minus the smallest
// count, taken as 0 with fewer than minDomains domains) within maxSkew.
func (r *podRules) spreadFits(i int32) bool {
	for _, h := range r.hard {
		d := h.sc.topo.dom[i]
		if d < 0 {
			continue
		}
		least := h.sc.min
		if h.sc.domains < h.minDomains {
			least = 0
		}
		if h.sc.n[d]+h.self-least > h.maxSkew {
			return false
		}
	}
	return true
}

// spreadFails is spreadLabelFits and spreadFits in one walk: the index
// of the filter node i fails (a missing label first), or -1.
func (r *podRules) spreadFails(i int32) int {
	j := -1
	for _, h := range r.hard {
		d := h.sc.topo.dom[i]
		if d < 0 {
			return spreadLabelIndex
		}
		least := h.sc.min
		if h.sc.domains < h.minDomains {
			least = 0
		}
		if h.sc.n[d]+h.self-least > h.maxSkew {
			j = spreadIndex
		}
	}
	return j
}

// preferScore sums the preferred terms' weights per selected pod in node
// i's domains (anti-affinity weights count against).
func (r *podRules) preferScore(i int32) int64 {
	var s int64
	for j := range r.prefer {
		s += r.prefer[j].w * int64(r.prefer[j].c.count(i))
	}
	return s
}

// softSkew sums the ScheduleAnyway constraints' counts in node i's
// domains, lower being better; a node without a key comes last.
func (r *podRules) softSkew(i int32) int64 {
	var s int64
	for _, h := range r.soft {
		d := h.sc.topo.dom[i]
		if d < 0 || !h.sc.elig[i] {
			s += 1 << 40
			continue
		}
		s += int64(h.sc.n[d])
	}
	return s
}

// podRulesKey appends a form of pod's namespace, labels and inter-pod
// rules to b, so that pods sharing a shape share them.
func podRulesKey(b []byte, pod *cluster.Pod) []byte {
	b = append(b, '#')
	b = append(b, pod.Namespace...)
	b = append(b, 0)
	b = selectorKey(b, pod.Labels)
	if a := pod.Spec.Affinity; a != nil {
		b = podAffinityKey(append(b, 'A'), a.PodAffinity)
		b = podAffinityKey(append(b, 'N'), a.PodAntiAffinity)
	}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		b = append(b, 'S')
		b = strconv.AppendInt(b, int64(c.MaxSkew), 10)
		b = append(b, ',')
		b = append(b, c.TopologyKey...)
		b = append(b, 0)
		b = append(b, c.WhenUnsatisfiable...)
		b = append(b, 0)
		b = labelSelectorKey(b, c.LabelSelector)
		if c.MinDomains != nil {
			b = strconv.AppendInt(b, int64(*c.MinDomains), 10)
		}
		b = append(b, ',')
		b = append(b, c.NodeAffinityPolicy...)
		b = append(b, 0)
		b = append(b, c.NodeTaintsPolicy...)
		b = append(b, 0)
		b = stringsKey(b, c.MatchLabelKeys)
	}
	return b
}

func podAffinityKey(b []byte, a *cluster.PodAffinity) []byte {
	if a == nil {
		return b
	}
	term := func(b []byte, t *cluster.PodAffinityTerm) []byte {
		b = labelSelectorKey(b, t.LabelSelector)
		b = labelSelectorKey(b, t.NamespaceSelector)
		b = stringsKey(b, t.Namespaces)
		b = append(b, t.TopologyKey...)
		b = append(b, 0)
		b = stringsKey(b, t.MatchLabelKeys)
		return stringsKey(b, t.MismatchLabelKeys)
	}
	for i := range a.Required {
		b = term(append(b, 'r'), &a.Required[i])
	}
	for i := range a.Preferred {
		b = strconv.AppendInt(append(b, 'p'), int64(a.Preferred[i].Weight), 10)
		b = term(b, &a.Preferred[i].Term)
	}
	return b
}

func stringsKey(b []byte, ss []string) []byte {
	b = append(b, '(')
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return append(b, ')')
}

// fails returns the index of the first inter-pod filter node i fails,
// in Kubernetes' order (topology spread, then pod affinity,
// anti-affinity and other pods' anti-affinity), or -1; stays reports
// that the node fails it for the rest of the pass (pods only arrive
// within a pass, so a node an anti-affinity rule or a missing label
// refuses stays refused, while affinity and skew may come right).
//
// masked says the domain mask of this placement allowed node i: with no
// other DoNotSchedule constraint, the skew need not be checked again.
func (r *podRules) fails(i int32, masked bool) (j int, stays bool) {
	if len(r.hard) > 0 && (!masked || len(r.hard) > 1) {
		if j := r.spreadFails(i); j >= 0 {
			return j, j == spreadLabelIndex
		}
	}
	switch {
	case len(r.aff) > 0 && !r.affinityFits(i):
		return podAffinityIndex, false
	case !r.antiFits(i):
		return podAntiAffinityIndex, true
	case !r.existingFits(i):
		return existingAntiIndex, true
	}
	return -1, false
}

// scores are node i's preferred pod affinity score and ScheduleAnyway
// spread count.
func (r *podRules) scores(i int32) (pods, skew int64) {
	if len(r.prefer) > 0 {
		pods = r.preferScore(i)
	}
	if len(r.soft) > 0 {
		skew = r.softSkew(i)
	}
	return pods, skew
}

// recordExisting counts a pod placed before the pass on node i, with its
// required anti-affinity terms.
func (ip *interPod) recordExisting(pod *cluster.Pod, i int32, leaving bool) {
	var own []*antiTerm
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for j := range a.PodAntiAffinity.Required {
			term := &a.PodAntiAffinity.Required[j]
			own = append(own, ip.antiTermOf(ip.resolveTerm(term, pod), term.TopologyKey))
		}
	}
	ip.record(placedPod{ns: pod.Namespace, labels: pod.Labels, node: i, leaving: leaving}, nil, own)
}

// domainMask is, for one placement, the domains of a DoNotSchedule
// constraint's topology (64 at most) that its skew allows: the search
// skips the other nodes at the price of a bit test, the common case for
// a zone constraint. A node without the label is left to the filters.
type domainMask struct {
	on  bool
	dom []int32
	m   uint64
}

// check reports whether the mask refuses node i, or allows it; a node
// without the label is neither.
func (k domainMask) check(i int32) (refused, allowed bool) {
	d := k.dom[i]
	if d < 0 {
		return false, false
	}
	ok := k.m&(1<<uint(d)) != 0
	return !ok, ok
}

// mask computes the allowed domains of maskTopo's constraint, as
// spreadFits judges them.
func (r *podRules) mask() domainMask {
	if r.maskTopo == nil {
		return domainMask{}
	}
	h := &r.hard[r.maskRule]
	least := h.sc.min
	if h.sc.domains < h.minDomains {
		least = 0
	}
	k := domainMask{on: true, dom: r.maskTopo.dom}
	for d, c := range h.sc.n {
		if c+h.self-least <= h.maxSkew {
			k.m |= 1 << uint(d)
		}
	}
	return k
}
