// Package bench makes synthetic clusters for measuring the DNS server, and
// the same names as a hosts file and a dnsperf query file, so Shoal and a
// reference server (dnsmasq) can be asked identical questions.
package bench

import (
	"fmt"
	"io"

	"shoal/cluster"
)

// Name is the full DNS name of service i.
func Name(i int) string { return fmt.Sprintf("svc%d.default.svc.cluster.local", i) }

// ip is pod j of service i: one /24 per 250 pods of the 10.88.0.0/16 pod CIDR.
func ip(i, j, perService int) string {
	n := i*perService + j
	return fmt.Sprintf("10.%d.%d.%d", 88+n/(250*256), n/250%256, n%250+1)
}

// vip is the virtual IP of service i, if it has one: the even ones do, the
// odd ones are headless and answer with their pods' addresses.
func vip(i int) string {
	if i%2 != 0 {
		return cluster.ClusterIPNone
	}
	return fmt.Sprintf("10.43.%d.%d", i/250, i%250+1)
}

// State is a cluster of services in "default", each selecting
// podsPerService ready pods; half have a virtual IP, half are headless.
func State(services, podsPerService int) *cluster.State {
	tx := cluster.Empty().Txn(1)
	for i := range services {
		app := fmt.Sprintf("svc%d", i)
		tx.PutService(&cluster.Service{Namespace: "default", Name: app, ClusterIP: vip(i),
			Selector: map[string]string{"app": app},
			Ports:    []cluster.ServicePort{{Name: "http", Port: 80}}})
		for j := range podsPerService {
			tx.PutPod(&cluster.Pod{
				Namespace: "default", Name: fmt.Sprintf("%s-%d", app, j), Labels: map[string]string{"app": app},
				Ordinal: -1,
				Status:  cluster.PodStatus{Phase: cluster.PodRunning, Ready: true, PodIP: ip(i, j, podsPerService)},
			})
		}
	}
	return tx.Commit()
}

// WriteHosts writes the services' A records as a hosts file, as Shoal
// answers them: a virtual IP, or every pod's address (dnsmasq answers a
// name listed several times with all its addresses).
func WriteHosts(w io.Writer, services, podsPerService int) error {
	for i := range services {
		if v := vip(i); v != cluster.ClusterIPNone {
			if _, err := fmt.Fprintf(w, "%s %s\n", v, Name(i)); err != nil {
				return fmt.Errorf("write hosts: %w", err)
			}
			continue
		}
		for j := range podsPerService {
			if _, err := fmt.Fprintf(w, "%s %s\n", ip(i, j, podsPerService), Name(i)); err != nil {
				return fmt.Errorf("write hosts: %w", err)
			}
		}
	}
	return nil
}

// WriteQueries writes a dnsperf data file asking every service's A record.
func WriteQueries(w io.Writer, services int) error {
	for i := range services {
		if _, err := fmt.Fprintf(w, "%s A\n", Name(i)); err != nil {
			return fmt.Errorf("write queries: %w", err)
		}
	}
	return nil
}
