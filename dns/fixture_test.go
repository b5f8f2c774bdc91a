package dns

import (
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"shoal/cluster"
)

// pod returns a running pod; opts adjust it.
func pod(ns, name, ip string, labels map[string]string, opts ...func(*cluster.Pod)) *cluster.Pod {
	p := &cluster.Pod{
		Namespace: ns, Name: name, UID: ns + "/" + name, Labels: labels, Ordinal: -1,
		Status: cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, PodIP: ip},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func stateful(host, sub string, ord int) func(*cluster.Pod) {
	return func(p *cluster.Pod) {
		p.Spec.Hostname, p.Spec.Subdomain, p.Ordinal = host, sub, ord
		p.Owner = &cluster.OwnerRef{Kind: cluster.KindStatefulSet, Name: sub, UID: "sts-" + sub}
	}
}

func notReady(p *cluster.Pod)    { p.Status.Ready = false }
func terminating(p *cluster.Pod) { p.Terminating = true }

// fixture is a small cluster exercising every rule:
//
//	default/db   StatefulSet db-0, db-1 ready; db-2 not ready; port "sql"
//	default/db   headless: the pods' addresses
//	default/web  virtual IP 10.43.0.80; web-a (IPv4), web-b (IPv6) ready;
//	             web-c terminating; port "http" → container port named "web"
//	default/idle no ready pods, stored without a virtual IP (an older Shoal)
//	prod/db      virtual IP 10.43.0.53; one pod; a pod labelled app=db in
//	             "other" has no service
func fixture() *cluster.State {
	tx := cluster.Empty().Txn(1)
	tx.PutService(&cluster.Service{Namespace: "default", Name: "db", ClusterIP: "None",
		Selector: map[string]string{"app": "db"},
		Ports:    []cluster.ServicePort{{Name: "sql", Port: 5432}, {Port: 9000}}})
	tx.PutService(&cluster.Service{Namespace: "default", Name: "web", ClusterIP: "10.43.0.80",
		Selector: map[string]string{"app": "web"},
		Ports:    []cluster.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPortName: "web"}}})
	tx.PutService(&cluster.Service{Namespace: "default", Name: "idle", Selector: map[string]string{"app": "idle"}})
	tx.PutService(&cluster.Service{Namespace: "prod", Name: "db", ClusterIP: "10.43.0.53", Selector: map[string]string{"app": "db"},
		Ports: []cluster.ServicePort{{Name: "dns", Protocol: "UDP", Port: 53, TargetPort: 5353}}})

	db := map[string]string{"app": "db"}
	web := map[string]string{"app": "web"}
	webPorts := func(p *cluster.Pod) {
		p.Spec.Containers = []cluster.Container{{Name: "c", Ports: []cluster.ContainerPort{{Name: "web", ContainerPort: 8080}}}}
	}
	for _, p := range []*cluster.Pod{
		pod("default", "db-0", "10.88.0.10", db, stateful("db-0", "db", 0)),
		pod("default", "db-1", "10.88.1.11", db, stateful("db-1", "db", 1)),
		pod("default", "db-2", "10.88.0.12", db, stateful("db-2", "db", 2), notReady),
		pod("default", "web-a", "10.88.0.20", web, webPorts),
		pod("default", "web-b", "fd00::21", web, webPorts),
		pod("default", "web-c", "10.88.0.22", web, webPorts, terminating),
		pod("default", "idle-a", "10.88.0.30", map[string]string{"app": "idle"}, notReady),
		pod("prod", "db-x", "10.88.2.5", db),
		pod("other", "db-y", "10.88.2.6", db),
	} {
		tx.PutPod(p)
	}
	return tx.Commit()
}

// bigState has one service with n ready pods, for truncation and
// benchmarks.
func bigState(n int) *cluster.State {
	tx := cluster.Empty().Txn(1)
	tx.PutService(&cluster.Service{Namespace: "default", Name: "big", ClusterIP: cluster.ClusterIPNone,
		Selector: map[string]string{"app": "big"},
		Ports:    []cluster.ServicePort{{Name: "http", Port: 80}}})
	for i := range n {
		tx.PutPod(pod("default", fmt.Sprintf("big-%d", i), fmt.Sprintf("10.88.%d.%d", i/250, i%250+1),
			map[string]string{"app": "big"}))
	}
	return tx.Commit()
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

// addrs returns the A/AAAA addresses of rrs, sorted.
func addrs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

func mustHandle(t testing.TB, tab *Table, req *dns.Msg) *dns.Msg {
	t.Helper()
	resp := Handle(tab, req)
	if resp == nil {
		t.Fatalf("%s %s: not answered (would forward)", req.Question[0].Name, dns.TypeToString[req.Question[0].Qtype])
	}
	if resp.Id != req.Id || !resp.Response {
		t.Fatalf("response header %+v does not answer query %d", resp.MsgHdr, req.Id)
	}
	return resp
}
