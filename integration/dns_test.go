package integration

import (
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

var dnsApp = dbStatefulSetYAML(2, `          ports:
            - {name: sql, containerPort: 5432}
`, "") + `---
apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  clusterIP: None
  selector: {app: db}
  ports:
    - {name: sql, port: 5432}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: client
      image: IMAGE
      command: ["sh", "-c", "` + idle + `"]
`

// fakeUpstream answers every A question with 192.0.2.7: the "internet"
// the agent forwards names outside the cluster to, on loopback.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.ParseIP("192.0.2.7"),
			})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// addresses pulls the answer addresses out of busybox nslookup's output
// (the first "Address:" line is the server's).
func addresses(out string) []string {
	var ips []string
	for _, m := range regexp.MustCompile(`(?m)^Address(?: \d+)?:\s+([0-9.]+)$`).FindAllStringSubmatch(out, -1) {
		ips = append(ips, m[1])
	}
	return ips
}

// TestDNSFromPods: a pod resolves a Service and a StatefulSet
// pod by short name through its agent's DNS server, names outside the
// cluster are forwarded, and a replaced pod's new IP is answered.
func TestDNSFromPods(t *testing.T) {
	image := Image(t)
	a := StartAgent(t, Options{Args: []string{"--dns-upstream", fakeUpstream(t)}})
	a.Apply(t, manifest(dnsApp, image))
	a.WaitPods(t, 3, func(corev1.Pod) bool { return true })
	ipOf := func(name string) string {
		p, _ := a.Pod(t, name)
		return p.Status.PodIP
	}
	lookup := func(name string) []string {
		out, _ := a.Exec(t, "client", "client", "nslookup", name)
		return addresses(out)
	}
	has := func(ips []string, ip string) bool {
		for _, x := range ips {
			if x == ip {
				return true
			}
		}
		return false
	}

	db0, db1 := ipOf("db-0"), ipOf("db-1")
	poll.Until(t, PodTimeout, "db to resolve to db-0 and db-1", func() (bool, string) {
		got := lookup("db")
		return has(got, db0) && has(got, db1), "nslookup db = " + strings.Join(got, ",") + ", want " + db0 + " and " + db1
	})
	if got := lookup("db-0.db"); !has(got, db0) || has(got, db1) {
		t.Errorf("nslookup db-0.db = %v, want only %s", got, db0)
	}
	if got := lookup("db.default.svc.cluster.local"); !has(got, db0) {
		t.Errorf("nslookup db.default.svc.cluster.local = %v, want %s among them", got, db0)
	}
	if got := lookup("www.example.org"); !has(got, "192.0.2.7") {
		t.Errorf("nslookup www.example.org = %v, want the upstream's 192.0.2.7", got)
	}
	// The host asks the agent's --dns-addr the same way.
	m := new(dns.Msg)
	m.SetQuestion("db-1.db.default.svc.cluster.local.", dns.TypeA)
	r, err := dns.Exchange(m, a.DNS)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != db1 {
		t.Errorf("host query of db-1.db.default.svc.cluster.local at %s: %v %v, want %s", a.DNS, r, err, db1)
	}

	// A replaced db-0 is answered with its new address.
	old, _ := a.Pod(t, "db-0")
	a.Shoal(t, "delete", "pod", "db-0")
	poll.Until(t, PodTimeout, "db-0.db to resolve to the new db-0", func() (bool, string) {
		p, ok := a.Pod(t, "db-0")
		if !ok || p.UID == old.UID || !IsReady(p) {
			return false, "db-0 not replaced yet"
		}
		got := lookup("db-0.db")
		return len(got) == 1 && got[0] == p.Status.PodIP, "nslookup db-0.db = " + strings.Join(got, ",") + ", want " + p.Status.PodIP
	})
}
