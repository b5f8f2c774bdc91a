package integration

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"shoal/internal/poll"
)

// streamedApp is a pod pinned to one node and a headless Service for it:
// its DNS answer is the pod's IP, which only the node running it reports.
// The pod takes variables from a Secret and a ConfigMap, which its node's
// view holds and no other node's.
const streamedApp = `
apiVersion: v1
kind: Secret
metadata:
  name: streamed-token
stringData:
  token: streamed-s3cret
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: streamed-settings
data:
  MODE: streamed
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: streamed
spec:
  replicas: 1
  selector:
    matchLabels: {app: streamed}
  template:
    metadata:
      labels: {app: streamed}
    spec:
      terminationGracePeriodSeconds: 1
      nodeSelector: {kubernetes.io/hostname: NODE}
      containers:
        - name: main
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          env:
            - name: TOKEN
              valueFrom:
                secretKeyRef: {name: streamed-token, key: token}
          envFrom:
            - configMapRef: {name: streamed-settings}
          resources:
            requests: {cpu: 10m, memory: 8Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: SERVICE
spec:
  clusterIP: None
  selector: {app: streamed}
  ports:
    - {port: 80}
`

// TestClusterStateStream: of 12 agents only the 5 voters and 2 replicas
// are Raft members; the other 5 are clients that follow a member's state
// stream, and every agent, member or client, names the same roles. A
// client runs a pod placed on it and answers DNS for its Service from the
// state it follows. Killing the member that feeds it moves it to another
// member while writes go on through it, and it ends with every
// acknowledged change. When a voter dies, a replica is promoted in its
// place and a client becomes a replica, so Raft is back to 7 members.
func TestClusterStateStream(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 12, Image: true})
	roles := waitRaftRoles(t, c, 4, 2)
	// Autopilot adds replicas by name: the client with the highest name
	// is the last it would take, so it stays a client through the two
	// replacements below, which is what the test observes.
	clients := rolesOf(roles, "client")
	sort.Strings(clients)
	ci := c.Index(clients[len(clients)-1])
	client := c.Agents[ci]
	t.Logf("roles: %v; watching client %s", roles, client.Opts.Name)

	// Followers keep load off the leader and the voters: once caught up,
	// the client streams from a replica.
	var feeder int
	poll.Until(t, ClusterTimeout, client.Opts.Name+" to follow a replica", func() (bool, string) {
		m, err := followedMember(t, c, ci)
		if err != nil {
			return false, err.Error()
		}
		feeder = c.indexOfAPI(m)
		if feeder < 0 || roles[c.Agents[feeder].Opts.Name] != "nonvoter" {
			return false, fmt.Sprintf("follows %q (roles %v)", m, roles)
		}
		return true, ""
	})

	// A pod placed on the client runs there, and the client's DNS answers
	// its Service with the pod's IP: both come from the stream.
	app := strings.NewReplacer("NODE", client.Opts.Name, "SERVICE", "streamed").Replace(manifest(streamedApp, c.Image))
	c.Any().Apply(t, app)
	pods := client.WaitPods(t, 1, Labeled("app", "streamed"))
	if pods[0].Spec.NodeName != client.Opts.Name {
		t.Fatalf("streamed pod on %s, want %s", pods[0].Spec.NodeName, client.Opts.Name)
	}
	if n, ok := c.PodTasks(ci, pods[0].Name); !ok || n == 0 {
		t.Fatalf("%s's containerd runs no task of %s", client.Opts.Name, pods[0].Name)
	}
	waitDNS(t, client, "streamed", pods[0].Status.PodIP)
	if out, code := client.Exec(t, pods[0].Name, "", "sh", "-c", "echo $TOKEN $MODE"); code != 0 || strings.TrimSpace(out) != "streamed-s3cret streamed" {
		t.Fatalf("the pod on the client reads TOKEN and MODE %q (exit %d), want its Secret's and ConfigMap's values", out, code)
	}

	// The client holds its node's view: a pod on another node is a
	// summary there, which still answers DNS, while reads through the
	// client come whole from the leader.
	elsewhere := c.Agents[feeder].Opts.Name
	app = strings.NewReplacer("streamed", "elsewhere", "NODE", elsewhere, "SERVICE", "elsewhere").Replace(manifest(streamedApp, c.Image))
	c.Any().Apply(t, app)
	other := c.Agents[feeder].WaitPods(t, 1, Labeled("app", "elsewhere"))[0]
	waitDNS(t, client, "elsewhere", other.Status.PodIP)
	checkView(t, c, ci, other.Name)
	// Of the Secrets and ConfigMaps, it holds only those its own pods use
	// (Kubernetes' node authorizer); a read through it answers all of them.
	for _, read := range []struct {
		kind  string
		flags []string
		want  []string
	}{
		{"secrets", []string{"--local"}, []string{"streamed-token"}},
		{"secrets", nil, []string{"elsewhere-token", "streamed-token"}},
		{"configmaps", []string{"--local"}, []string{"streamed-settings"}},
		{"configmaps", nil, []string{"elsewhere-settings", "streamed-settings"}},
	} {
		names, err := objectNames(client, read.kind, read.flags...)
		if err != nil {
			t.Fatalf("get %s %v through %s: %v", read.kind, read.flags, client.Opts.Name, err)
		}
		if got := slices.Sorted(maps.Keys(names)); !slices.Equal(got, read.want) {
			t.Fatalf("get %s %v through %s: %v, want %v", read.kind, read.flags, client.Opts.Name, got, read.want)
		}
	}
	// Nor may it follow the whole state, which holds every Secret, with
	// its node certificate: that goes to agents that hold or held Raft.
	leader := c.Agents[c.Index(rolesOf(roles, "leader")[0])]
	for _, ask := range []struct {
		from *Agent
		want int
	}{{client, http.StatusForbidden}, {c.Agents[feeder], http.StatusOK}} {
		resp, err := nodeClient(t, ask.from).Get("https://" + leader.API + "/v1/internal/stream?index=0")
		if err != nil {
			t.Fatalf("%s asks %s for the whole state: %v", ask.from.Opts.Name, leader.Opts.Name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != ask.want {
			t.Fatalf("%s asks %s for the whole state: %s, want %d", ask.from.Opts.Name, leader.Opts.Name, resp.Status, ask.want)
		}
	}

	// Writes through the client (forwarded to the leader) while the member
	// feeding it is killed.
	w := startServiceWriter(c, ci)
	time.Sleep(2 * time.Second)
	killedFeeder := c.Agents[feeder].Opts.Name
	c.Kill9(feeder)
	poll.Until(t, ClusterTimeout, client.Opts.Name+" to follow another member", func() (bool, string) {
		m, err := followedMember(t, c, ci)
		if err != nil {
			return false, err.Error()
		}
		i := c.indexOfAPI(m)
		return i >= 0 && i != feeder, fmt.Sprintf("follows %q", m)
	})
	time.Sleep(2 * time.Second)
	acked := w.stop()
	if len(acked) == 0 {
		t.Fatal("no write through the client was acknowledged")
	}
	waitSameServices(t, c, ci, acked)

	// The replica killed is replaced by a client; then a voter dies and a
	// replica takes its place.
	roles = waitRaftRoles(t, c, 4, 2)
	replicas := rolesOf(roles, "nonvoter")
	voter := c.Index(rolesOf(roles, "voter")[0])
	t.Logf("replaced %s: roles %v; killing voter %s", killedFeeder, roles, c.Agents[voter].Opts.Name)
	c.Kill9(voter)
	roles = waitRaftRoles(t, c, 4, 2)
	promoted := slices.DeleteFunc(rolesOf(roles, "voter", "leader"), func(n string) bool { return !slices.Contains(replicas, n) })
	if len(promoted) != 1 {
		t.Fatalf("after voter %s died: voters %v, want one of the replicas %v among them", c.Agents[voter].Opts.Name, rolesOf(roles, "voter", "leader"), replicas)
	}
	if roles[client.Opts.Name] != "client" {
		t.Fatalf("%s is %s, want client", client.Opts.Name, roles[client.Opts.Name])
	}
	t.Logf("promoted %s: roles %v", promoted[0], roles)

	// The clients made Raft members since the start held views: Raft fed
	// them the whole state, which replaced the view.
	for _, name := range rolesOf(roles, "voter", "nonvoter", "leader") {
		if slices.Contains(clients, name) {
			checkWhole(t, c, c.Index(name), pods[0].Name) // on the client watched, another node
		}
	}

	// The client still follows the state: a change made now shows in its
	// DNS and its reads.
	c.Any(voter, feeder).Apply(t, strings.NewReplacer("NODE", client.Opts.Name, "SERVICE", "streamed-after").Replace(manifest(streamedApp, c.Image)))
	waitDNS(t, client, "streamed-after", pods[0].Status.PodIP)
	waitSameServices(t, c, ci, append(acked, "streamed-after"))
}

// checkView checks that agent i holds its node's view (its metric says
// so, and its own copy, read with --local, holds pod, which runs on
// another node, as a summary without its image) and that a plain read
// through it answers the whole pod.
func checkView(t *testing.T, c *Cluster, i int, pod string) {
	t.Helper()
	a := c.Agents[i]
	resp, err := nodeClient(t, a).Get("https://" + a.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !regexp.MustCompile(`(?m)^shoal_state_view 1$`).Match(b) {
		t.Fatalf("%s does not say it holds its node's view (%v)", a.Opts.Name, err)
	}
	image := func(args ...string) string {
		r := a.Run(append([]string{"get", "pod", pod, "-o", "json"}, args...)...)
		if r.Code != 0 {
			t.Fatalf("get pod %s %v on %s: %s", pod, args, a.Opts.Name, r.Err())
		}
		var p struct {
			Spec struct{ Containers []struct{ Image string } }
		}
		if err := jsonUnmarshal(r.Stdout, &p); err != nil || len(p.Spec.Containers) != 1 {
			t.Fatalf("get pod %s %v: %v %s", pod, args, err, r.Stdout)
		}
		return p.Spec.Containers[0].Image
	}
	if img := image("--local"); img != "" {
		t.Fatalf("%s's own copy holds %s whole (image %q): want its summary", a.Opts.Name, pod, img)
	}
	if img := image(); img != c.Image {
		t.Fatalf("a read of %s through %s answers image %q, want %q (the leader's whole pod)", pod, a.Opts.Name, img, c.Image)
	}
}

// checkWhole waits until agent i, once a client, holds the whole state:
// its metric says it holds no view, and its own copy holds pod, which
// runs on another node, whole.
func checkWhole(t *testing.T, c *Cluster, i int, pod string) {
	t.Helper()
	a := c.Agents[i]
	poll.Until(t, ClusterTimeout, a.Opts.Name+" to hold the whole state", func() (bool, string) {
		resp, err := nodeClient(t, a).Get("https://" + a.API + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !regexp.MustCompile(`(?m)^shoal_state_view 0$`).Match(b) {
			return false, fmt.Sprintf("its metric does not say 0 (%v)", err)
		}
		r := a.Run("get", "pod", pod, "-o", "json", "--local")
		if r.Code != 0 {
			return false, r.Err()
		}
		var p struct {
			Spec struct{ Containers []struct{ Image string } }
		}
		if err := jsonUnmarshal(r.Stdout, &p); err != nil || len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != c.Image {
			return false, fmt.Sprintf("its own copy of %s: %s (%v)", pod, r.Stdout, err)
		}
		return true, ""
	})
}

// waitRaftRoles waits until every alive agent names one leader, voters
// more voters and replicas non-voters among the alive agents, every
// other agent as a client, and all agree; it returns the roles by name.
func waitRaftRoles(t *testing.T, c *Cluster, voters, replicas int) map[string]string {
	t.Helper()
	var roles map[string]string
	poll.Until(t, ClusterTimeout, fmt.Sprintf("1 leader, %d voters, %d replicas, the rest clients, on every agent", voters, replicas), func() (bool, string) {
		alive := c.Alive()
		roles = nil
		for _, i := range alive {
			nodes, err := c.Nodes(i)
			if err != nil {
				return false, fmt.Sprintf("agent%d: %v", i+1, err)
			}
			seen := map[string]string{}
			count := map[string]int{}
			for _, n := range nodes {
				if c.Index(n.Metadata.Name) >= 0 && slices.Contains(alive, c.Index(n.Metadata.Name)) {
					seen[n.Metadata.Name] = n.Status.Raft
					count[n.Status.Raft]++
				} else if n.Status.Raft != "client" && n.Status.Raft != "" {
					return false, fmt.Sprintf("agent%d: %s, not alive, still %s", i+1, n.Metadata.Name, n.Status.Raft)
				}
			}
			if count["leader"] != 1 || count["voter"] != voters || count["nonvoter"] != replicas || count["client"] != len(alive)-1-voters-replicas {
				return false, fmt.Sprintf("agent%d: %s", i+1, NodeSummary(nodes))
			}
			if roles != nil && !maps.Equal(roles, seen) {
				return false, fmt.Sprintf("agent%d names %v, another agent %v", i+1, seen, roles)
			}
			roles = seen
		}
		return true, ""
	})
	return roles
}

// rolesOf lists the names with one of the roles, sorted.
func rolesOf(roles map[string]string, want ...string) []string {
	var out []string
	for name, r := range roles {
		if slices.Contains(want, r) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

var followingRE = regexp.MustCompile(`(?m)^shoal_state_stream_following\{member="([^"]+)"\} 1$`)

// followedMember is the API address of the member agent i follows, from
// its /metrics (read with its own node certificate).
func followedMember(t *testing.T, c *Cluster, i int) (string, error) {
	a := c.Agents[i]
	resp, err := nodeClient(t, a).Get("https://" + a.API + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics of agent%d: %d %v", i+1, resp.StatusCode, err)
	}
	m := followingRE.FindAllStringSubmatch(string(b), -1)
	if len(m) != 1 {
		return "", fmt.Errorf("agent%d follows %d members", i+1, len(m))
	}
	return m[0][1], nil
}

// indexOfAPI is the agent whose API address is addr (-1 if none).
func (c *Cluster) indexOfAPI(addr string) int {
	for i, a := range c.Agents {
		if a.API == addr {
			return i
		}
	}
	return -1
}

// waitDNS waits until agent a's DNS answers name's A query with ip.
func waitDNS(t *testing.T, a *Agent, name, ip string) {
	t.Helper()
	fqdn := name + ".default.svc.cluster.local."
	poll.Until(t, PodTimeout, fqdn+" from "+a.Opts.Name+"'s DNS", func() (bool, string) {
		m := new(dns.Msg)
		m.SetQuestion(fqdn, dns.TypeA)
		r, err := dns.Exchange(m, a.DNS)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, rr := range r.Answer {
			if aa, ok := rr.(*dns.A); ok {
				got = append(got, aa.A.String())
			}
		}
		return len(got) == 1 && got[0] == ip, fmt.Sprintf("%s answers %v, want %s", a.DNS, got, ip)
	})
}

// serviceWriter applies a Service every 100 ms through one agent and
// remembers those it acknowledged.
type serviceWriter struct {
	mu    sync.Mutex
	acked []string
	quit  chan struct{}
	done  chan struct{}
}

func startServiceWriter(c *Cluster, i int) *serviceWriter {
	w := &serviceWriter{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for n := 0; ; n++ {
			select {
			case <-w.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			name := fmt.Sprintf("through-%d", n)
			if c.Agents[i].RunInput([]byte(service(name)), "apply", "-f", "-").Code == 0 {
				w.mu.Lock()
				w.acked = append(w.acked, name)
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *serviceWriter) stop() []string {
	close(w.quit)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// waitSameServices waits until agent i holds every acknowledged Service
// and the same Services as the leader.
func waitSameServices(t *testing.T, c *Cluster, i int, acked []string) {
	t.Helper()
	poll.Until(t, ClusterTimeout, fmt.Sprintf("agent%d to hold the %d acknowledged services and the leader's", i+1, len(acked)), func() (bool, string) {
		leader, _ := c.Leader()
		if leader < 0 {
			return false, "no leader"
		}
		want, err := objectNames(c.Agents[leader], "services")
		if err != nil {
			return false, err.Error()
		}
		got, err := objectNames(c.Agents[i], "services", "--local") // its own copy, not the leader's
		if err != nil {
			return false, err.Error()
		}
		var lost []string
		for _, name := range acked {
			if !got[name] || !want[name] {
				lost = append(lost, name)
			}
		}
		if len(lost) > 0 {
			return false, fmt.Sprintf("lacks acknowledged %v", lost)
		}
		return len(got) == len(want), fmt.Sprintf("holds %d services, the leader %d", len(got), len(want))
	})
}
