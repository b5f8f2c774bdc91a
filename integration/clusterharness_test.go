package integration

import (
	"strings"
	"testing"
	"time"

	"shoal/internal/poll"
)

// The cluster harness's own test, with one agent (it passes with a lone
// agent, before and after the cluster pieces): the agent runs in a network
// namespace on a test bridge with its own address and default ports; the
// host reaches its API through the bridge only with a credential; it pulls
// from the registry on the bridge; its pod answers from the node's
// namespace; Kill9 leaves the containers running and Restart adopts them;
// PowerOff kills everything running from its data dir and Restart brings
// the pod back.

const harnessPod = `
apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: IMAGE
      command: ["sh", "-c"]
      args:
        - |
          trap 'exit 0' TERM
          mkdir -p /www && echo hello-from-$(hostname) > /www/index.html
          httpd -p 8080 -h /www
          while true; do sleep 1 & wait $!; done
`

func TestClusterHarnessOneAgent(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 1, Image: true, Plain: true})
	a := c.Agents[0]
	if !strings.HasPrefix(a.API, c.Addr(0)+":") {
		t.Fatalf("agent API on %s, want its own address %s", a.API, c.Addr(0))
	}

	// The API wants a credential: the cluster CA alone earns nothing.
	noToken := a.RunAs(a.Credentials(""), "get", "nodes")
	if noToken.Code == 0 || !strings.Contains(strings.ToLower(noToken.Stderr), "credential") {
		t.Fatalf("get nodes from the host without a token: want a refusal naming the credential, got exit %d: %s", noToken.Code, noToken.Stderr)
	}
	// On loopback inside the namespace, with the admin credentials.
	if r := a.RunInside("get", "nodes"); r.Code != 0 {
		t.Fatalf("inside the namespace, on loopback: %s", r.Err())
	}

	a.Apply(t, manifest(harnessPod, c.Image))
	pod := a.WaitPods(t, 1, Named("hello"))[0]
	page := func() (bool, string) {
		out, err := c.NS[0].Exec("timeout", "3", "busybox", "wget", "-qO-", "http://"+pod.Status.PodIP+":8080/")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(out, "hello-from-"), "page: " + out
	}
	poll.Until(t, 30*time.Second, "the hello page", page)
	if n, ok := c.PodTasks(0, "hello"); !ok || n != 1 {
		t.Fatalf("ctr: %d running tasks of hello (containerd answering: %v), want 1", n, ok)
	}

	// A crash of the agent alone: the container runs on and is adopted.
	c.Kill9(0)
	// (Its containerd, a child, may go with it; the shims stay.)
	if len(processesUnder(a.Opts.DataDir)) == 0 {
		t.Fatal("after kill -9 of the agent, nothing runs from its data dir: the containers should outlive it")
	}
	c.Restart(0)
	a.WaitPods(t, 1, Named("hello"))
	poll.Until(t, 30*time.Second, "the hello page after the restart", page)

	// A power cut: nothing from its data dir survives.
	ipBefore := pod.Status.PodIP
	c.PowerOff(0)
	if left := processesUnder(a.Opts.DataDir); len(left) > 0 {
		t.Fatalf("after PowerOff, processes still run from %s: %v", a.Opts.DataDir, left)
	}
	if n, ok := c.PodTasks(0, "hello"); ok && n > 0 {
		t.Fatalf("after PowerOff, containerd still runs %d tasks of hello", n)
	}
	if len(c.Alive()) != 0 {
		t.Fatalf("after PowerOff, Alive() = %v", c.Alive())
	}
	c.Restart(0)
	pod = a.WaitPods(t, 1, Named("hello"))[0]
	// After a power cut the agent sets the sandbox up again and the pod
	// gets back the IP it had: the state, still naming that IP, is right
	// again once the container runs.
	if ok, why := poll.Wait(20*time.Second, page); !ok {
		t.Fatalf("after PowerOff and Restart, pod hello (%s) does not answer: %s", pod.Status.PodIP, why)
	}
	got := Select(a.Pods(t), Named("hello"))
	if len(got) != 1 || got[0].Status.PodIP != ipBefore {
		ips := make([]string, len(got))
		for i, p := range got {
			ips[i] = p.Status.PodIP
		}
		t.Fatalf("after PowerOff and Restart, pod hello has IP %v, want its old IP %s", ips, ipBefore)
	}
}
