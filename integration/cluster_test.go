package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

// Cluster tests: several real agents, each in its own
// network namespace on one bridge (cluster.go), faults by PID and by link,
// everything observed through the CLI (`get nodes -o json`: Ready
// condition, .status.raft, .status.capacity; pods Kubernetes-shaped) and,
// where the API could be wrong, through each node's containerd.

// TestClusterThreeAgents: 3 agents form one cluster with one
// leader and 3 voters, and every agent's `get nodes` lists all 3, Ready,
// with their capacity.
func TestClusterThreeAgents(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3})
	leader := c.WaitLeader()
	poll.Until(t, ClusterTimeout, "every agent to list the 3 nodes", func() (bool, string) {
		for i := range c.Agents {
			nodes, err := c.Nodes(i)
			if err != nil {
				return false, err.Error()
			}
			if why := c.allListed(nodes); why != "" {
				return false, fmt.Sprintf("agent%d: %s", i+1, why)
			}
			roles := map[string]int{}
			for _, n := range nodes {
				roles[n.Status.Raft]++
				if cpu, mem := n.Status.Capacity["cpu"], n.Status.Capacity["memory"]; cpu == "" || cpu == "0" || mem == "" || mem == "0" {
					return false, fmt.Sprintf("agent%d lists %s without capacity: %v", i+1, n.Metadata.Name, n.Status.Capacity)
				}
			}
			if roles["leader"] != 1 || roles["voter"] != 2 {
				return false, fmt.Sprintf("agent%d: want 1 leader and 2 more voters: %s", i+1, NodeSummary(nodes))
			}
		}
		return true, ""
	})
	t.Logf("leader: agent%d", leader+1)
}

// service is a Service without pods: the cheapest acknowledged write.
func service(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  selector: {app: %s}\n  ports:\n    - {port: 80, targetPort: 80}\n", name, name)
}

// names lists the objects of a kind through agent a ("" on error).
func objectNames(a *Agent, kind string, flags ...string) (map[string]bool, error) {
	var l struct {
		Items []struct{ Metadata struct{ Name string } }
	}
	r := a.Run(append([]string{"get", kind, "-o", "json"}, flags...)...)
	if r.Code != 0 {
		return nil, fmt.Errorf("%s", r.Err())
	}
	if err := jsonUnmarshal(r.Stdout, &l); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, it := range l.Items {
		out[it.Metadata.Name] = true
	}
	return out, nil
}

// TestClusterLeaderKill: 5 agents settle as 3 voters and 2
// non-voters. While a writer applies Services through every agent in
// turn, the leader is killed with SIGKILL: a new leader is elected, the
// dead voter is replaced after the dead grace (3 voters among the 4
// alive), writes keep working (apply, scale), and every write that was
// acknowledged, before or during the kill, is on every alive agent.
func TestClusterLeaderKill(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 5, Image: true})
	poll.Until(t, ClusterTimeout, "1 leader, 2 voters and 2 non-voters", func() (bool, string) {
		nodes, err := c.Nodes(0)
		if err != nil {
			return false, err.Error()
		}
		roles := map[string]int{}
		for _, n := range nodes {
			roles[n.Status.Raft]++
		}
		return roles["leader"] == 1 && roles["voter"] == 2 && roles["nonvoter"] == 2,
			"want 1 leader, 2 voters, 2 non-voters: " + NodeSummary(nodes)
	})
	c.Any().Apply(t, manifest(sleeperDeployment, c.Image))
	c.Any().WaitPods(t, 2, Labeled("app", "sleeper"))
	for i := range 10 {
		c.Agents[i%5].Apply(t, service(fmt.Sprintf("before-%d", i)))
	}

	// The writer: one Service per round, through each agent in turn;
	// what an agent acknowledged (exit 0) must survive.
	var (
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("during-%d", n)
			if c.Agents[n%5].RunInput([]byte(service(name)), "apply", "-f", "-").Code == 0 {
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()

	old := c.WaitLeader()
	time.Sleep(time.Second) // some writes acknowledged by the old leader
	killed := time.Now()
	c.Kill9(old)
	leader := c.WaitForNewLeader(old)
	t.Logf("agent%d killed; agent%d leads after %v", old+1, leader+1, time.Since(killed).Round(100*time.Millisecond))

	// Writes keep working: the next acknowledged write after the kill.
	poll.Until(t, ClusterTimeout, "a write after the kill", func() (bool, string) {
		r := c.Any().RunInput([]byte(service("after-kill")), "apply", "-f", "-")
		return r.Code == 0, r.Err()
	})
	t.Logf("leader kill → next acknowledged write: %v", time.Since(killed).Round(100*time.Millisecond))
	c.Any().Shoal(t, "scale", "deployment/sleeper", "--replicas", "3")
	c.Any().WaitPods(t, 3, Labeled("app", "sleeper"))
	c.LogRSS(t)

	// The dead voter is replaced once the grace has passed: among the 4
	// alive, 3 voters; the dead one Down and not voting.
	dead := c.Agents[old].Opts.Name
	poll.Until(t, ClusterTimeout, "the dead voter to be replaced", func() (bool, string) {
		nodes, err := c.Nodes(c.Alive()[0])
		if err != nil {
			return false, err.Error()
		}
		voters := 0
		for _, n := range nodes {
			if n.Metadata.Name == dead {
				if n.IsVoter() || n.Ready() != "False" {
					return false, "dead node still voting or not Down: " + NodeSummary(nodes)
				}
				continue
			}
			if n.IsVoter() {
				voters++
			}
		}
		return voters == 3, "want 3 voters among the alive: " + NodeSummary(nodes)
	})

	close(stop)
	<-done
	mu.Lock()
	want := append([]string{"after-kill"}, acked...)
	mu.Unlock()
	for i := range 10 {
		want = append(want, fmt.Sprintf("before-%d", i))
	}
	t.Logf("%d writes acknowledged during the test", len(want))
	for _, i := range c.Alive() {
		poll.Until(t, 30*time.Second, fmt.Sprintf("agent%d to hold every acknowledged write", i+1), func() (bool, string) {
			have, err := objectNames(c.Agents[i], "services")
			if err != nil {
				return false, err.Error()
			}
			var lost []string
			for _, n := range want {
				if !have[n] {
					lost = append(lost, n)
				}
			}
			return len(lost) == 0, fmt.Sprintf("agent%d lacks acknowledged services %v", i+1, lost)
		})
	}
}

const sleeperDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleeper
spec:
  replicas: 2
  selector:
    matchLabels: {app: sleeper}
  template:
    metadata:
      labels: {app: sleeper}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: IMAGE
          command: ["sh", "-c", "` + idle + `"]
          resources:
            requests: {cpu: 10m, memory: 8Mi}
`

const spreadDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: IMAGE
          command: ["sh", "-c"]
          args:
            - |
              trap 'exit 0' TERM
              mkdir -p /www && echo "hello from $(hostname)" > /www/index.html
              httpd -p 8080 -h /www
              while true; do sleep 1 & wait $!; done
          ports:
            - containerPort: 8080
          resources:
            requests: {cpu: 10m, memory: 8Mi}
          readinessProbe:
            tcpSocket: {port: 8080}
            periodSeconds: 1
`

// runningOff selects Running, Ready pods not on node.
func runningOff(node string) func(corev1.Pod) bool {
	return func(p corev1.Pod) bool {
		return p.Spec.NodeName != node && p.Status.Phase == corev1.PodRunning && IsReady(p) && p.DeletionTimestamp == nil
	}
}

// TestClusterPowerOff: a Deployment of 6 over 5 nodes is spread
// (no node has more than 2); when a node that runs some of them loses
// power (agent, containerd and containers killed together, link down),
// its pods are Running elsewhere and the Deployment is back to 6.
func TestClusterPowerOff(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 5, Image: true})
	c.Any().Apply(t, manifest(spreadDeployment, c.Image))
	pods := c.Any().WaitPods(t, 6, Labeled("app", "web"))
	on := PodsOn(pods)
	for node, n := range on {
		if n > 2 {
			t.Fatalf("node %s runs %d of the 6 pods, want at most 2: %v", node, n, on)
		}
	}
	leader := c.WaitLeader()
	victim := -1
	for i, a := range c.Agents {
		if i != leader && on[a.Opts.Name] > 0 {
			victim = i
			break
		}
	}
	if victim < 0 {
		t.Fatalf("no node but the leader runs a pod: %v", on)
	}
	name := c.Agents[victim].Opts.Name
	t.Logf("powering off %s, which runs %d pods (%v)", name, on[name], on)
	off := time.Now()
	c.PowerOff(victim)
	poll.Until(t, ClusterTimeout, "the Deployment's pods to run off "+name, func() (bool, string) {
		r := c.Any().Run("get", "pods", "-o", "json")
		var l corev1.PodList
		if r.Code != 0 || jsonUnmarshal(r.Stdout, &l) != nil {
			return false, r.Err()
		}
		got := Select(Select(l.Items, Labeled("app", "web")), runningOff(name))
		return len(got) == 6, fmt.Sprintf("%d Running and Ready off %s: %s", len(got), name, Summary(l.Items))
	})
	t.Logf("node power-off → its Deployment pods Running elsewhere: %v", time.Since(off).Round(100*time.Millisecond))
	poll.Until(t, ClusterTimeout, name+" to be Down", func() (bool, string) {
		nodes, err := c.Nodes(c.Alive()[0])
		if err != nil {
			return false, err.Error()
		}
		for _, n := range nodes {
			if n.Metadata.Name == name {
				return n.Ready() == "False", "powered-off node not Down yet: " + NodeSummary(nodes)
			}
		}
		return false, "powered-off node not listed: " + NodeSummary(nodes)
	})
}

var fencedStatefulSet = dbStatefulSetYAML(1, `          resources:
            requests: {cpu: 10m, memory: 8Mi}
`, "")

// TestClusterStatefulSetPartition: the node running db-0 (a
// StatefulSet pod without claims) is cut off. Both sides are watched
// through their containerd, every 200 ms: the cut node stops db-0 (its
// fencing lease runs out) before db-0 runs anywhere else, there are never
// two, and after the link is restored there is still exactly one.
func TestClusterStatefulSetPartition(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	c.Any().Apply(t, manifest(fencedStatefulSet, c.Image))
	db := c.Any().WaitPods(t, 1, Named("db-0"))[0]
	cut := c.Index(db.Spec.NodeName)
	if cut < 0 {
		t.Fatalf("db-0 on unknown node %q", db.Spec.NodeName)
	}
	poll.Until(t, 30*time.Second, "db-0 to run on "+db.Spec.NodeName, func() (bool, string) {
		n, ok := c.PodTasks(cut, "db-0")
		return ok && n == 1, fmt.Sprintf("containerd of %s runs %d db-0 tasks", db.Spec.NodeName, n)
	})

	// where samples both sides at once: db-0's running tasks on the cut
	// node and on each other node.
	where := func() (inside int, elsewhere map[string]int) {
		inside, _ = c.PodTasks(cut, "db-0")
		elsewhere = map[string]int{}
		for i, a := range c.Agents {
			if i == cut {
				continue
			}
			if n, _ := c.PodTasks(i, "db-0"); n > 0 {
				elsewhere[a.Opts.Name] = n
			}
		}
		return inside, elsewhere
	}
	c.CutLink(cut)
	start := time.Now()
	var stoppedAt time.Duration = -1
	deadline := start.Add(ClusterTimeout)
	for {
		inside, elsewhere := where()
		now := time.Since(start)
		if inside > 0 && len(elsewhere) > 0 {
			t.Fatalf("at %v two db-0 run: %d tasks on the cut node %s and %v elsewhere", now, inside, db.Spec.NodeName, elsewhere)
		}
		if inside == 0 && stoppedAt < 0 {
			stoppedAt = now
			t.Logf("db-0 stopped on the cut node after %v", now.Round(100*time.Millisecond))
		}
		if len(elsewhere) > 0 {
			if stoppedAt < 0 {
				t.Fatalf("db-0 started elsewhere (%v) before it stopped on the cut node", elsewhere)
			}
			t.Logf("db-0 started elsewhere (%v) after %v, %v after it stopped on the cut node", elsewhere, now.Round(100*time.Millisecond), (now - stoppedAt).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v db-0 runs on the cut node: %d tasks, elsewhere: %v", ClusterTimeout, inside, elsewhere)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The majority's API agrees: db-0 Running on another node.
	poll.Until(t, PodTimeout, "db-0 to run on another node", func() (bool, string) {
		p, ok := c.Any(cut).Pod(t, "db-0")
		return ok && p.Spec.NodeName != db.Spec.NodeName && p.Status.Phase == corev1.PodRunning,
			fmt.Sprintf("db-0: node %q phase %s", p.Spec.NodeName, p.Status.Phase)
	})

	// Healed: the cut node rejoins and does not start db-0 again.
	c.RestoreLink(cut)
	c.WaitFormed()
	healed := time.Now()
	for time.Since(healed) < 3*TestLease {
		inside, elsewhere := where()
		if inside > 0 || len(elsewhere) != 1 {
			t.Fatalf("after the link came back: %d db-0 tasks on %s, elsewhere %v; want exactly one db-0", inside, db.Spec.NodeName, elsewhere)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterFencingOutlivesAgent: the agent of the node that runs db-0
// (a StatefulSet pod that appends heartbeats to a host directory) is
// killed with SIGKILL and stays dead past Down and its fencing lease, so
// the leader places db-0 elsewhere. Its container outlives the agent, as
// on every agent crash, and the agent is not there to fence it: only its
// fencing watchdog can. The heartbeats of the two copies must not overlap.
func TestClusterFencingOutlivesAgent(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	w := &chaosWorkloads{c: c, hb: chaosHeartbeatDir(t)}
	a := c.Any()
	a.Shoal(t, "policy", "set", "--allow-host-path", w.hb)
	a.Apply(t, strings.ReplaceAll(strings.Replace(manifest(chaosDB, c.Image), "replicas: 2", "replicas: 1", 1), "HB", w.hb))
	db := a.WaitPods(t, 1, Named("db-0"))[0]
	victim := c.Index(db.Spec.NodeName)
	if victim < 0 {
		t.Fatalf("db-0 on unknown node %q", db.Spec.NodeName)
	}
	beats := func(node string) int {
		files, _ := filepath.Glob(filepath.Join(w.hb, "db-0_"+node+"_*"))
		n := 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += strings.Count(string(b), "\n")
		}
		return n
	}
	poll.Until(t, PodTimeout, "db-0's heartbeats on "+db.Spec.NodeName, func() (bool, string) {
		n := beats(db.Spec.NodeName)
		return n >= 3, fmt.Sprintf("%d heartbeats", n)
	})
	// Only db-0's node held a lease, so only it started a watchdog: its
	// deadline file is written by the watchdog's agent alone.
	for i, ag := range c.Agents {
		_, err := os.Stat(filepath.Join(ag.Opts.DataDir, "fence.json"))
		if armed := err == nil; armed != (i == victim) {
			t.Errorf("agent %d (db-0 on agent %d): fencing deadline written %v", i, victim, armed)
		}
	}

	c.Kill9(victim)
	killed := time.Now()
	var moved corev1.Pod
	poll.Until(t, ClusterTimeout, "db-0 to run on another node", func() (bool, string) {
		p, ok := c.Any(victim).Pod(t, "db-0")
		moved = p
		return ok && p.Spec.NodeName != db.Spec.NodeName && p.Status.Phase == corev1.PodRunning,
			fmt.Sprintf("db-0: node %q phase %s", p.Spec.NodeName, p.Status.Phase)
	})
	t.Logf("agent of %s killed; db-0 Running on %s after %v", db.Spec.NodeName, moved.Spec.NodeName, time.Since(killed).Round(100*time.Millisecond))
	// The new copy's beats overlap the old one's if that still runs.
	poll.Until(t, PodTimeout, "db-0's heartbeats on "+moved.Spec.NodeName, func() (bool, string) {
		n := beats(moved.Spec.NodeName)
		return n >= 5, fmt.Sprintf("%d heartbeats", n)
	})
	if res := w.checkExclusive(); !res.Passed {
		t.Fatalf("%s\n(the killed agent's fencing watchdog log: %s)", res.Detail, tail(filepath.Join(c.Agents[victim].Opts.DataDir, "fence-watchdog.log"), 20))
	} else {
		t.Logf("%s; the killed agent's fencing watchdog logged:\n%s", res.Detail, tail(filepath.Join(c.Agents[victim].Opts.DataDir, "fence-watchdog.log"), 5))
	}

	// Back: the restarted agent does not start db-0 again.
	c.Restart(victim)
	c.WaitFormed()
	before := beats(db.Spec.NodeName)
	time.Sleep(2 * TestLease)
	if n := beats(db.Spec.NodeName); n != before {
		t.Fatalf("db-0 wrote %d heartbeats on %s after its agent came back; it runs on %s", n-before, db.Spec.NodeName, moved.Spec.NodeName)
	}
	if res := w.checkExclusive(); !res.Passed {
		t.Fatal(res.Detail)
	}
	// The restarted agent took the guard over (its data dir was armed),
	// and with no StatefulSet pod left there it lets its watchdog go once
	// the lease it renewed at start has run out.
	poll.Until(t, ClusterTimeout, "the restarted agent to release its fencing watchdog", func() (bool, string) {
		_, err := os.Stat(filepath.Join(c.Agents[victim].Opts.DataDir, "fence.json"))
		return errors.Is(err, fs.ErrNotExist), fmt.Sprint(err)
	})
}

// TestClusterPodToPod: a pod on one node fetches a page from a
// pod on another node by its IP (each node has its own /24 of the cluster
// CIDR; the agents route between them).
func TestClusterPodToPod(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true, Configure: func(i int, o *Options) {
		o.Labels = map[string]string{"test.shoal.dev/node": o.Name}
	}})
	pod := func(name, node, script string) string {
		return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {test.shoal.dev/node: %s}
  containers:
    - name: main
      image: %s
      command: ["sh", "-c"]
      args:
        - |
          trap 'exit 0' TERM
          %s
          while true; do sleep 1 & wait $!; done
`, name, node, c.Image, script)
	}
	a := c.Any()
	a.Apply(t, pod("server", "agent2", `mkdir -p /www && echo "page from $(hostname)" > /www/index.html && httpd -p 8080 -h /www`))
	a.Apply(t, pod("client", "agent3", `true`))
	server := a.WaitPods(t, 1, Named("server"))[0]
	client := a.WaitPods(t, 1, Named("client"))[0]
	if server.Spec.NodeName == client.Spec.NodeName {
		t.Fatalf("both pods on %s", server.Spec.NodeName)
	}
	nodes, err := c.Nodes(0)
	if err != nil {
		t.Fatal(err)
	}
	cidr := map[string]string{}
	for _, n := range nodes {
		cidr[n.Metadata.Name] = n.Spec.PodCIDR
	}
	if cidr["agent2"] == "" || cidr["agent2"] == cidr["agent3"] {
		t.Fatalf("nodes' pod subnets: %v; want one /24 each", cidr)
	}
	t.Logf("server %s on agent2 (%s), client %s on agent3 (%s)", server.Status.PodIP, cidr["agent2"], client.Status.PodIP, cidr["agent3"])
	poll.Until(t, 60*time.Second, "the client to reach the server", func() (bool, string) {
		out, code := a.Exec(t, "client", "", "wget", "-qO-", "http://"+server.Status.PodIP+":8080/")
		return code == 0 && strings.Contains(out, "page from server"), fmt.Sprintf("exit %d: %s", code, out)
	})
}
