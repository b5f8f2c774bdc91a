package scheduler

import (
	"cmp"
	"slices"
	"strconv"

	"shoal/cluster"
)

// nodeInfo is one node and what is left of it in this pass.
type nodeInfo struct {
	node  *cluster.Node
	idx   int32 // in nodeTable.infos
	alloc cluster.Resources
	// free is Allocatable minus the requests of the pods that hold
	// resources there (cluster.Pod.Holds, as cluster.UsageOf counts them),
	// minus what this pass placed.
	free cluster.Resources
	// gpus are the node's unclaimed GPU IDs, in the node's order.
	gpus  []string
	ports map[hostPort]bool
	// loaded is set once the node's pods are charged to it; a restricted
	// pass charges a node only when placement first looks at it.
	loaded bool
}

// hostPort is a published node port.
type hostPort struct {
	protocol string
	port     int32
}

// shape is what placement needs to know of a pod; pods of one workload
// share it, and with it the pass's knowledge of which nodes cannot take
// them.
type shape struct {
	req         cluster.Resources
	selector    map[string]string
	tolerations []cluster.Toleration
	affinity    *cluster.NodeAffinity
	ports       []hostPort
	dynamic     []int // indexes in allFilters of the dynamic filters that can fail for this shape
	// rules are the inter-pod rules (nil when the pass has none).
	// runEnd is, per position in cands, where its domain's run ends (see
	// runs); nil without a domain mask.
	runEnd []int32
	rules  *podRules

	// cands are node indexes that passed the static filters and have not
	// yet failed a dynamic one (-1: dropped, compacted away from time to
	// time); offset is where the next placement starts looking, so that
	// successive pods look at different nodes.
	cands  []int32
	live   int
	offset int
	// counts are the nodes each filter ruled out, for the message.
	counts [numFilters]int
	taints []taintCount
	// avoid counts, per node index, the PreferNoSchedule taints the shape
	// does not tolerate (nil when no node has any).
	avoid map[int32]int32
	// prefer is, per node index, the weight of the preferred node
	// affinity terms the node matches (nil when none does).
	prefer map[int32]int64
	// msg is set once no node is left: the shape fits nowhere for the rest
	// of the pass, since usage only grows within a pass.
	msg string
}

// staticSet is the outcome of the static filters for one nodeSelector.
type staticSet struct {
	nodes  []int32
	counts [numFilters]int
	taints []taintCount
	avoid  map[int32]int32
	prefer map[int32]int64
}

// nodeTable is the per-pass placement index.
type nodeTable struct {
	infos  []nodeInfo
	index  map[string]int32
	static map[string]*staticSet
	shapes map[string]*shape
	// spread counts an owner's pods per node index, for the spread score.
	spread map[string][]int32
	// find is how many feasible nodes a placement looks at before scoring.
	find int
	buf  []byte
	// ip holds the inter-pod counts; nil when no pod of the pass has
	// inter-pod rules, so that the plain case pays nothing for them.
	ip *interPod
	// load charges a node's pods to it (nil once all are: a full pass
	// charges every pod up front).
	load func(ni *nodeInfo)
}

// info returns node i's entry with its pods charged.
func (t *nodeTable) info(i int32) *nodeInfo {
	ni := &t.infos[i]
	if !ni.loaded && t.load != nil {
		ni.loaded = true
		t.load(ni)
	}
	return ni
}

// buildTable indexes the nodes and what their pods hold. It walks every
// pod once, so it is only built when something needs placing.
func (p *pass) buildTable(todo []*cluster.Pod) *nodeTable {
	nodes := p.st.Nodes()
	t := &nodeTable{
		infos:  make([]nodeInfo, len(nodes)),
		index:  make(map[string]int32, len(nodes)),
		static: map[string]*staticSet{},
		shapes: map[string]*shape{},
		spread: map[string][]int32{},
		find:   p.opts.feasibleToFind(len(nodes)),
	}
	for i, n := range nodes {
		ni := &t.infos[i]
		ni.node, ni.idx, ni.alloc, ni.free = n, int32(i), n.Allocatable, n.Allocatable
		if len(n.GPUs) > 0 {
			ni.gpus = make([]string, len(n.GPUs))
			for j, g := range n.GPUs {
				ni.gpus[j] = g.ID()
			}
		}
		t.index[n.Name] = int32(i)
	}
	rules := p.interPodRules(todo)
	if p.partial && !rules {
		// A restricted pass charges only the nodes placement looks at,
		// from the node index, in the same (key) order as the full walk.
		t.load = func(ni *nodeInfo) {
			for _, pod := range p.st.PodsOnNode(ni.node.Name) {
				p.charge(t, ni, pod)
			}
		}
		return t
	}
	for _, pod := range p.allPods() {
		if i, ok := t.index[pod.NodeName]; ok {
			p.charge(t, &t.infos[i], pod)
		}
	}
	for i := range t.infos {
		t.infos[i].loaded = true
	}
	if rules {
		t.ip = newInterPod(t.infos, p.st)
		for _, pod := range p.allPods() {
			if i, ok := t.index[pod.NodeName]; ok && pod.Holds() {
				t.ip.recordExisting(pod, i, pod.Terminating || p.stopped[pod])
			}
		}
	}
	return t
}

// charge counts what a pod on ni holds there.
func (p *pass) charge(t *nodeTable, ni *nodeInfo, pod *cluster.Pod) {
	if !pod.Holds() {
		return
	}
	req, ok := p.resized[pod]
	if !ok {
		req = pod.Spec.Requests()
	}
	t.hold(ni, req, pod.GPUs, podPorts(pod))
}

// interPodRules reports whether a pod to place has inter-pod rules, or a
// placed one has required anti-affinity, which keeps new pods away too.
func (p *pass) interPodRules(todo []*cluster.Pod) bool {
	for _, pods := range [][]*cluster.Pod{todo, p.created} {
		for _, pod := range pods {
			if pod.Spec.HasPodAffinity() {
				return true
			}
		}
	}
	pods := p.all
	if p.partial {
		pods = p.st.PodsWithRequiredAntiAffinity()
	}
	for _, pod := range pods {
		if cluster.RequiredAntiAffinity(pod) && pod.NodeName != "" {
			return true
		}
	}
	return false
}

// hold charges a pod's requests, GPUs and host ports to a node.
func (t *nodeTable) hold(ni *nodeInfo, req cluster.Resources, gpus []string, ports []hostPort) {
	ni.free = ni.free.Sub(req)
	for _, g := range gpus {
		if j := slices.Index(ni.gpus, g); j >= 0 {
			ni.gpus = slices.Delete(ni.gpus, j, j+1)
		}
	}
	if len(ports) > 0 && ni.ports == nil {
		ni.ports = map[hostPort]bool{}
	}
	for _, hp := range ports {
		ni.ports[hp] = true
	}
}

// feasibleToFind is Kubernetes' percentageOfNodesToScore rule: small
// clusters are searched fully, big ones until a share of their nodes was
// found feasible (adaptive 50% - nodes/125, at least 5%, at least 100).
func (o Options) feasibleToFind(nodes int) int {
	minF := o.MinFeasible
	if minF <= 0 {
		minF = 100
	}
	pct := o.PercentageOfNodes
	if pct <= 0 {
		pct = max(5, 50-nodes/125)
	}
	return min(nodes, max(minF, nodes*pct/100))
}

// placeAll places the pending pods in the state (in key order) and then
// those created in this pass, in creation order.
func (p *pass) placeAll() {
	var todo []*cluster.Pod
	for _, pod := range p.pending {
		if !p.stopped[pod] {
			todo = append(todo, pod)
		}
	}
	if len(todo) == 0 && len(p.created) == 0 {
		return
	}
	// Oldest first, as Kubernetes' queue does: a pod that has waited for a
	// GPU gets the one freed before a replacement created after it.
	slices.SortStableFunc(todo, func(a, b *cluster.Pod) int { return cmp.Compare(a.CreateIndex, b.CreateIndex) })
	p.table = p.buildTable(todo)
	for _, pod := range todo {
		node, gpus, from, msg := p.placeClaims(pod)
		if node != "" {
			p.plan.Place = append(p.plan.Place, cluster.Placement{Pod: pod.Ref(), Node: node, GPUs: gpus, VolumeFrom: from})
		} else if msg != pod.SchedulingMessage {
			p.plan.Pending = append(p.plan.Pending, cluster.PendingReason{Pod: pod.Ref(), Message: msg})
		}
	}
	for _, pod := range p.created {
		// Created pods are ours until the plan is committed: set directly.
		pod.NodeName, pod.GPUs, pod.VolumeFrom, pod.SchedulingMessage = p.placeClaims(pod)
	}
}

// place picks a node for pod and claims its resources there; it returns
// the node and GPU IDs, or the reason nothing fits.
func (p *pass) place(pod *cluster.Pod) (node string, gpus []string, msg string) {
	t := p.table
	s := t.shapeOf(pod)
	if s.msg != "" {
		return "", nil, s.msg
	}
	if s.rules != nil && s.rules.waiting != "" && s.rules.waitedAt == len(t.ip.placed) {
		// Nothing was placed since this shape last fitted nowhere, and
		// only a placement can make room for it.
		return "", nil, s.rules.waiting
	}
	var spread []int32
	if pod.Owner != nil {
		spread = p.spreadOf(pod.Owner.UID)
	}
	var skip domainMask
	if s.rules != nil {
		s.rules.sync(t.ip)
		skip = s.rules.mask()
	}
	best := t.search(s, spread, skip)
	if s.live*2 < len(s.cands) {
		s.compact()
	}
	if best < 0 {
		msg := t.explainShape(s)
		// With no transient filter, nothing freed in a pass makes room:
		// the shape fits nowhere for the rest of it.
		if s.rules == nil || !s.rules.transient {
			s.msg = msg
		} else {
			s.rules.waiting, s.rules.waitedAt = msg, len(t.ip.placed)
		}
		return "", nil, msg
	}
	gpus = t.bind(pod, best, s)
	if spread != nil {
		spread[best]++
	}
	return t.infos[best].node.Name, gpus, ""
}

// search looks at the shape's candidates from its offset until it has
// found t.find feasible nodes, and returns the best (-1: none). Nodes a
// filter refuses for the rest of the pass are dropped from cands.
func (t *nodeTable) search(s *shape, spread []int32, skip domainMask) int32 {
	best, bestRank, bestScore := int32(-1), nodeRank{}, int64(0)
	found, pos, n := 0, s.offset, len(s.cands)
	for seen := 0; seen < n && found < t.find; {
		if pos >= n {
			pos = 0
		}
		i := s.cands[pos]
		allowed := false
		if i >= 0 && skip.on {
			var refused bool
			if refused, allowed = skip.check(i); refused {
				// Dropped nodes keep their place, so runs stay valid.
				end := int(s.runEnd[pos])
				seen += end - pos
				pos = end
				continue
			}
		}
		pos++
		seen++
		if i < 0 {
			continue
		}
		ni := t.info(i)
		// The resource filters, then the inter-pod ones (Kubernetes'
		// order).
		if !t.feasible(ni, s) {
			s.cands[pos-1] = -1
			s.live--
			continue
		}
		if s.rules != nil {
			if j, stays := s.rules.fails(i, allowed); j >= 0 {
				if stays {
					s.cands[pos-1] = -1
					s.live--
					s.counts[j]++
				}
				continue
			}
		}
		found++
		// The rank, inline: this loop is the scheduler's hot path.
		var r nodeRank
		if s.avoid != nil {
			r.avoid = s.avoid[i]
		}
		if s.prefer != nil {
			r.prefer = s.prefer[i]
		}
		if spread != nil {
			r.spread = spread[i]
		}
		if s.rules != nil {
			r.pods, r.skew = s.rules.scores(i)
		}
		if best >= 0 {
			if c := r.cmp(&bestRank); c != 0 {
				if c > 0 {
					continue // cannot win: skip the (dividing) score
				}
				bestScore = -1 << 62 // wins on rank whatever its score
			}
		}
		sc := leastRequested(ni, s.req)
		if best < 0 || sc > bestScore {
			best, bestRank, bestScore = i, r, sc
		}
	}
	s.offset = pos
	return best
}

// explainShape says why no node takes the shape now. The search skips
// and does not count the nodes the transient filters refuse, so they are
// counted here, one inter-pod reason per node as in Kubernetes; this only
// runs when a pod stays Pending.
func (t *nodeTable) explainShape(s *shape) string {
	var transient [numFilters]int
	if s.rules != nil {
		for pos, i := range s.cands {
			if i < 0 {
				continue
			}
			if !t.feasible(t.info(i), s) {
				s.cands[pos] = -1
				s.live--
				continue
			}
			j, stays := s.rules.fails(i, false)
			switch {
			case j < 0:
			case stays:
				s.cands[pos] = -1
				s.live--
				s.counts[j]++
			default:
				transient[j]++
			}
		}
	}
	counts := s.counts
	for j, c := range transient {
		counts[j] += c
	}
	return explain(len(t.infos), &counts, s.taints)
}

// bind claims node i's resources for pod and records it in the inter-pod
// counts; it returns the GPU IDs taken.
func (t *nodeTable) bind(pod *cluster.Pod, i int32, s *shape) []string {
	ni := t.info(i)
	var gpus []string
	if s.req.GPU > 0 {
		gpus = slices.Clone(ni.gpus[:s.req.GPU])
	}
	t.hold(ni, s.req, gpus, s.ports)
	if s.rules != nil {
		s.rules.sync(t.ip)
		t.ip.record(placedPod{ns: pod.Namespace, labels: pod.Labels, node: i}, s.rules.member, s.rules.own)
	}
	return gpus
}

// nodeRank is what outranks the resource score, in order: untolerated
// PreferNoSchedule taints (fewer first), preferred node affinity, then
// preferred pod affinity (higher first), ScheduleAnyway spread, then the
// owner's pods on the node (fewer first).
type nodeRank struct {
	avoid  int32
	prefer int64
	pods   int64
	skew   int64
	spread int32
}

// cmp is -1 when r is better than o, 1 when worse, 0 when equal.
func (r *nodeRank) cmp(o *nodeRank) int {
	switch {
	case r.avoid != o.avoid:
		return sign(r.avoid < o.avoid)
	case r.prefer != o.prefer:
		return sign(r.prefer > o.prefer)
	case r.pods != o.pods:
		return sign(r.pods > o.pods)
	case r.skew != o.skew:
		return sign(r.skew < o.skew)
	case r.spread != o.spread:
		return sign(r.spread < o.spread)
	}
	return 0
}

// sign is -1 for a better value, 1 for a worse one.
func sign(better bool) int {
	if better {
		return -1
	}
	return 1
}

// feasible runs the shape's dynamic filters; a node that fails is counted
// against every filter it fails (a node can be short of cpu and memory).
func (t *nodeTable) feasible(ni *nodeInfo, s *shape) bool {
	ok := true
	for _, f := range s.dynamic {
		if !allFilters[f].fits(ni, s) {
			ok = false
		}
	}
	if ok {
		return true
	}
	for _, f := range s.dynamic {
		if !allFilters[f].fits(ni, s) {
			s.counts[f]++
		}
	}
	return false
}

// leastRequested scores the share of cpu and memory left on a node after
// placing req (0..2000); nodes without a resource score 0 for it.
func leastRequested(ni *nodeInfo, req cluster.Resources) int64 {
	var sc int64
	if a := ni.alloc.MilliCPU; a > 0 {
		sc += (ni.free.MilliCPU - req.MilliCPU) * 1000 / a
	}
	if a := ni.alloc.Memory; a > 0 {
		// Divide first: bytes times 1000 could overflow on huge nodes.
		sc += (ni.free.Memory - req.Memory) / max(a/1000, 1)
	}
	return sc
}

// compact drops the -1 entries, keeping order and the rotating offset.
func (s *shape) compact() {
	out, off := s.cands[:0], 0
	for j, i := range s.cands {
		if i < 0 {
			continue
		}
		if j < s.offset {
			off++
		}
		out = append(out, i)
	}
	s.cands, s.offset = out, off
	s.runs()
}

// runs groups cands by the domain of the shape's masked topology (see
// domainMask) and records where each run ends, so that a search skips a
// domain the skew refuses in one step. Within a domain nodes keep their
// order.
func (s *shape) runs() {
	if s.rules == nil || s.rules.maskTopo == nil {
		return
	}
	dom := s.rules.maskTopo.dom
	if s.runEnd == nil {
		slices.SortStableFunc(s.cands, func(a, b int32) int { return cmp.Compare(dom[a], dom[b]) })
	}
	s.runEnd = s.runEnd[:0]
	for j := range s.cands {
		s.runEnd = append(s.runEnd, 0)
		if j > 0 && dom[s.cands[j]] == dom[s.cands[j-1]] {
			continue
		}
		for k := j - 1; k >= 0 && s.runEnd[k] == 0; k-- {
			s.runEnd[k] = int32(j)
		}
	}
	for k := len(s.cands) - 1; k >= 0 && s.runEnd[k] == 0; k-- {
		s.runEnd[k] = int32(len(s.cands))
	}
}

// spreadOf returns how many pods of owner each node runs: the owner's
// placed pods that stay, counted once per pass, then this pass's
// placements as they happen.
func (p *pass) spreadOf(owner string) []int32 {
	t := p.table
	if sp, ok := t.spread[owner]; ok {
		return sp
	}
	sp := make([]int32, len(t.infos))
	for _, pod := range p.ownedBy(owner) {
		if i, ok := t.index[pod.NodeName]; ok && !pod.Terminating && !p.stopped[pod] {
			sp[i]++
		}
	}
	t.spread[owner] = sp
	return sp
}

// shapeOf finds or makes pod's shape. The key is built in a reused buffer
// so that the common case (a known shape) allocates nothing.
func (t *nodeTable) shapeOf(pod *cluster.Pod) *shape {
	req := pod.Spec.Requests()
	ports := podPorts(pod)
	b := t.buf[:0]
	b = strconv.AppendInt(b, req.MilliCPU, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, req.Memory, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, req.EphemeralStorage, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, req.GPU, 10)
	for _, hp := range ports {
		b = append(b, ',')
		b = append(b, hp.protocol...)
		b = strconv.AppendInt(b, int64(hp.port), 10)
	}
	b = append(b, '|')
	selStart := len(b)
	b = selectorKey(b, pod.Spec.NodeSelector)
	b = tolerationsKey(b, pod.Spec.Tolerations)
	var aff *cluster.NodeAffinity
	if pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil {
		aff = pod.Spec.Affinity.NodeAffinity
		b = affinityKey(b, aff)
	}
	selEnd := len(b)
	if t.ip != nil {
		b = podRulesKey(b, pod)
	}
	t.buf = b
	if s, ok := t.shapes[string(b)]; ok {
		return s
	}
	s := &shape{req: req, selector: pod.Spec.NodeSelector, tolerations: pod.Spec.Tolerations, affinity: aff, ports: ports}
	for j, f := range dynamicFilters {
		switch f.(type) {
		case cpuFilter:
			if req.MilliCPU <= 0 {
				continue
			}
		case memoryFilter:
			if req.Memory <= 0 {
				continue
			}
		case ephemeralStorageFilter:
			if req.EphemeralStorage <= 0 {
				continue
			}
		case gpuFilter:
			if req.GPU <= 0 {
				continue
			}
		case portFilter:
			if len(ports) == 0 {
				continue
			}
		}
		s.dynamic = append(s.dynamic, firstDynamic+j)
	}
	if t.ip != nil {
		s.rules = t.rulesFor(pod, s, string(b[selStart:selEnd]))
	}
	st := t.staticFor(string(b[selStart:selEnd]), s)
	s.cands = slices.Clone(st.nodes)
	s.live = len(s.cands)
	s.runs()
	s.counts = st.counts
	s.taints, s.avoid, s.prefer = st.taints, st.avoid, st.prefer
	t.shapes[string(b)] = s
	return s
}

// staticFor evaluates the static filters for a selector, once per pass;
// each node is counted against the first filter it fails.
func (t *nodeTable) staticFor(key string, s *shape) *staticSet {
	if st, ok := t.static[key]; ok {
		return st
	}
	st := &staticSet{}
	for i := range t.infos {
		ok := true
		for j, f := range staticFilters {
			if !f.fits(&t.infos[i], s) {
				st.counts[j]++
				if j == taintIndex {
					bad, _ := cluster.Untolerated(t.infos[i].node.SchedulingTaints(), s.tolerations, cluster.TaintNoSchedule, cluster.TaintNoExecute)
					st.taints = countTaint(st.taints, bad)
				}
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		st.nodes = append(st.nodes, int32(i))
		if c := cluster.CountUntolerated(t.infos[i].node.Taints, s.tolerations, cluster.TaintPreferNoSchedule); c > 0 {
			if st.avoid == nil {
				st.avoid = map[int32]int32{}
			}
			st.avoid[int32(i)] = int32(c)
		}
		if w := s.affinity.PreferredScore(t.infos[i].node); w > 0 {
			if st.prefer == nil {
				st.prefer = map[int32]int64{}
			}
			st.prefer[int32(i)] = w
		}
	}
	t.static[key] = st
	return st
}

// selectorKey appends a canonical form of sel (sorted k=v pairs) to b.
func selectorKey(b []byte, sel map[string]string) []byte {
	if len(sel) == 0 {
		return b
	}
	var small [8]string // most pods have few labels: no allocation
	keys := small[:0]
	for k := range sel {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, sel[k]...)
		b = append(b, 0)
	}
	return b
}

// tolerationsKey appends a form of tols to b that tells shapes with
// different tolerations apart.
func tolerationsKey(b []byte, tols []cluster.Toleration) []byte {
	for _, t := range tols {
		b = append(b, '~')
		b = append(b, t.Key...)
		b = append(b, 0)
		b = append(b, t.Operator...)
		b = append(b, 0)
		b = append(b, t.Value...)
		b = append(b, 0)
		b = append(b, t.Effect...)
	}
	return b
}

// requirementKey appends one selector requirement to b, each string
// 0-terminated and the requirement ';'-terminated.
func requirementKey(b []byte, key, op string, values []string) []byte {
	b = append(b, key...)
	b = append(b, 0)
	b = append(b, op...)
	b = append(b, 0)
	for _, v := range values {
		b = append(b, v...)
		b = append(b, 0)
	}
	return append(b, ';')
}

// affinityKey appends a form of a to b that tells node affinities apart
// (strings are 0-terminated, so no two affinities share a form).
func affinityKey(b []byte, a *cluster.NodeAffinity) []byte {
	term := func(b []byte, t cluster.NodeSelectorTerm) []byte {
		for i, rs := range [][]cluster.NodeSelectorRequirement{t.MatchExpressions, t.MatchFields} {
			b = append(b, '(', byte('0'+i))
			for _, r := range rs {
				b = requirementKey(b, r.Key, r.Operator, r.Values)
			}
			b = append(b, ')')
		}
		return b
	}
	b = append(b, '&')
	for _, t := range a.Required {
		b = term(b, t)
	}
	b = append(b, '|')
	for _, p := range a.Preferred {
		b = strconv.AppendInt(b, int64(p.Weight), 10)
		b = term(b, p.Preference)
	}
	return b
}

// podPorts lists the host ports a pod publishes (containers and sidecars).
func podPorts(pod *cluster.Pod) []hostPort {
	var out []hostPort
	for _, cs := range [][]cluster.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, cp := range c.Ports {
				if cp.HostPort > 0 {
					proto := cp.Protocol
					if proto == "" {
						proto = "TCP"
					}
					out = append(out, hostPort{protocol: proto, port: cp.HostPort})
				}
			}
		}
	}
	return out
}
