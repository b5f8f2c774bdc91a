package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/internal/poll"
	"shoal/pki"
)

const trustDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: steady}
spec:
  replicas: 3
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "` + idle + `"]
`

// TestClusterTrust attacks a running three-agent cluster the ways the
// trust review did, and checks each attack now fails: forged joins,
// plain and foreign-CA Raft peers, a node certificate writing another
// node's record, a pod talking to its node's ports, a local non-root user,
// the wrong role, a revoked token. Then it rotates the gossip key under
// running pods and restarts an agent after kill -9: same identity.
func TestClusterTrust(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 3, Image: true})
	a := c.Agents[0]
	c.Agents[0].Apply(t, manifest(trustDeployment, c.Image))
	pods := a.WaitPods(t, 3, Labeled("app", "steady"))

	t.Run("forged joins", func(t *testing.T) {
		join, err := pki.ParseJoinToken(c.Token)
		if err != nil {
			t.Fatal(err)
		}
		wrongSecret := pki.JoinToken{CADigest: join.CADigest, Secret: strings.Repeat("0", 32)}
		other, _ := pki.NewCA("other", time.Now())
		otherCA := pki.JoinToken{CADigest: other.Digest(), Secret: join.Secret}
		for _, tc := range []struct {
			name, token string
			want        *regexp.Regexp
		}{
			{"wrong secret", wrongSecret.String(), regexp.MustCompile(`join refused: the token's secret is not this cluster's`)},
			{"another CA's digest", otherCA.String(), regexp.MustCompile(`the seed's CA has digest [0-9a-f]{64} but the join token pins ` + other.Digest())},
			{"weak token", "SHOAL1-" + join.CADigest + "-0123456789abcdef", regexp.MustCompile(`at least 128 are required`)},
		} {
			_, o := c.AddNetNS("intruder")
			o.Join = []string{net.JoinHostPort(c.Addr(0), "7948")}
			o.Token = tc.token
			bad := LaunchAgent(t, o)
			poll.Until(t, 60*time.Second, tc.name+": the intruder to stop with why", func() (bool, string) {
				log := tail(bad.Log, 20)
				return tc.want.MatchString(log), "not yet in the intruder's log:\n" + log
			})
			bad.Retire()
			if _, err := os.Stat(filepath.Join(o.DataDir, "tls", "node.crt")); err == nil {
				t.Errorf("%s: the intruder got a node certificate", tc.name)
			}
		}
		if nodes, err := c.Nodes(0); err != nil || len(nodes) != 3 {
			t.Fatalf("after the intruders: %v %s", err, NodeSummary(nodes))
		}
	})

	t.Run("raft port", func(t *testing.T) {
		raft := net.JoinHostPort(c.Addr(1), "7947")
		// A forged AppendEntries in plain TCP: rpcType 0, then whatever
		// msgpack; the TLS server reads it as a bad handshake and hangs up.
		conn, err := net.DialTimeout("tcp", raft, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write(append([]byte{0}, bytes.Repeat([]byte{0x81, 0xa4, 'T', 'e', 'r', 'm', 0xcd, 0xff, 0xff}, 8)...))
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		n, err := io.Copy(io.Discard, conn)
		conn.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("plain TCP to Raft: still open after 15 s (read %d bytes)", n)
		}
		// TLS with a certificate of another CA: refused at the handshake.
		key, _ := pki.NewKey()
		cert, _ := foreignCA(t).SignNode(key.Public(), pki.NodeRequest{Name: "agent1"}, time.Now())
		keyPEM, _ := pki.EncodeKey(key)
		pair, err := tls.X509KeyPair(cert, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", raft, &tls.Config{
			InsecureSkipVerify: true, Certificates: []tls.Certificate{pair},
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil },
		})
		if err == nil {
			_ = tc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = tc.Read(make([]byte, 1))
			tc.Close()
		}
		if err == nil || (isTimeout(err)) {
			t.Errorf("a foreign-CA client on the Raft port: %v", err)
		}
	})

	t.Run("slow clients", func(t *testing.T) {
		// 300 connections that never finish a TLS handshake: the agent
		// keeps answering others, and cuts them off.
		var conns []net.Conn
		for range 300 {
			conn, err := net.DialTimeout("tcp", c.Agents[1].API, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = conn.Write([]byte{0x16, 0x03}) // the start of a ClientHello, then nothing
			conns = append(conns, conn)
		}
		defer func() {
			for _, conn := range conns {
				conn.Close()
			}
		}()
		if r := c.Agents[1].Run("get", "nodes"); r.Code != 0 {
			t.Fatalf("with 300 stalled connections open: %s", r.Err())
		}
		start := time.Now()
		for _, conn := range conns {
			_ = conn.SetReadDeadline(start.Add(30 * time.Second))
			if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
				t.Fatalf("a stalled connection still open after %v", time.Since(start).Round(time.Second))
			}
		}
		t.Logf("300 stalled connections cut off within %v", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("node restriction", func(t *testing.T) {
		node2 := nodeClient(t, c.Agents[1])
		body := `{"name":"agent3","address":"10.6.6.6","status":"Ready"}`
		req, _ := http.NewRequest(http.MethodPut, "https://"+c.Agents[0].API+"/v1/internal/nodes/agent3", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := node2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("agent2's certificate writing agent3's record: %d %s", resp.StatusCode, b)
		}
		for _, path := range []string{"/v1/apply", "/v1/tokens"} {
			req, _ := http.NewRequest(http.MethodPost, "https://"+c.Agents[0].API+path, strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := node2.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("agent2's certificate on %s: %d", path, resp.StatusCode)
			}
		}
	})

	t.Run("pod to its node's ports", func(t *testing.T) {
		pod := pods[0]
		host := pod.Status.HostIP
		// Plain HTTP to the API gets the TLS server's refusal, never data.
		out, _ := a.Exec(t, pod.Name, "", "sh", "-c", `printf 'GET /v1/pods HTTP/1.0\r\n\r\n' | nc -w 5 `+host+` 7948`)
		if strings.Contains(out, "items") || strings.Contains(out, "steady") {
			t.Errorf("a pod read the API without a credential: %s", out)
		}
		out, _ = a.Exec(t, pod.Name, "", "sh", "-c", `printf '\000\201\244Term\315\377\377' | nc -w 5 `+host+` 7947 | wc -c`)
		if strings.TrimSpace(out) != "0" {
			t.Errorf("the Raft port answered a pod's plain bytes: %q", out)
		}
	})

	t.Run("local non-root user", func(t *testing.T) {
		for _, f := range []string{"admin.conf", "join-token", "tls/node.key", "gossip.keys"} {
			fi, err := os.Stat(filepath.Join(a.Opts.DataDir, f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v, want mode 0600", f, fi, err)
			}
		}
		cmd := exec.Command(Binary(t), "--config", a.AdminConf(), "--addr", a.API, "get", "pods")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "steady") {
			t.Errorf("nobody with the admin.conf path: %v %s", err, out)
		}
	})

	t.Run("roles and revocation", func(t *testing.T) {
		view := a.Shoal(t, "token", "create", "viewer", "--role", "view", "-o", "config")
		viewConf := filepath.Join(t.TempDir(), "view.conf")
		if err := os.WriteFile(viewConf, []byte(view), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := a.RunAs(viewConf, "get", "pods"); r.Code != 0 || !strings.Contains(r.Stdout, "steady") {
			t.Errorf("view token reading pods: %s", r.Err())
		}
		if r := a.RunAs(viewConf, "scale", "deployment/steady", "--replicas", "4"); r.Code == 0 || !strings.Contains(r.Stderr, "may not") {
			t.Errorf("view token scaling: %s", r.Err())
		}
		if r := a.RunAs(viewConf, "exec", pods[0].Name, "--", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "may not") {
			t.Errorf("view token exec: %s", r.Err())
		}
		edit := strings.TrimSpace(a.Shoal(t, "token", "create", "ci", "--role", "edit"))
		// Committed on the leader; every agent applies it moments later.
		for _, ag := range c.Agents {
			conf := ag.Credentials(edit)
			poll.Until(t, 10*time.Second, "the new token accepted on "+ag.Opts.Name, func() (bool, string) {
				r := ag.RunAs(conf, "get", "pods")
				return r.Code == 0, r.Err()
			})
		}
		a.Shoal(t, "token", "revoke", "ci")
		start := time.Now()
		for _, ag := range c.Agents {
			conf := ag.Credentials(edit)
			poll.Until(t, 10*time.Second, "the revoked token refused on "+ag.Opts.Name, func() (bool, string) {
				r := ag.RunAs(conf, "get", "pods")
				return r.Code != 0 && strings.Contains(r.Stderr, "credential"), r.Err()
			})
		}
		t.Logf("revoked token refused by all 3 agents within %v", time.Since(start).Round(time.Millisecond))
		if list := a.Shoal(t, "token", "list"); !strings.Contains(list, "viewer") || strings.Contains(list, "\nci ") {
			t.Errorf("token list:\n%s", list)
		}
	})

	t.Run("gossip key rotation under running pods", func(t *testing.T) {
		before := map[string][]byte{}
		for _, ag := range c.Agents {
			before[ag.Opts.Name], _ = os.ReadFile(filepath.Join(ag.Opts.DataDir, "gossip.keys"))
		}
		a.Shoal(t, "gossip", "rotate-key")
		for _, ag := range c.Agents {
			poll.Until(t, 20*time.Second, ag.Opts.Name+" to hold only the new key", func() (bool, string) {
				b, _ := os.ReadFile(filepath.Join(ag.Opts.DataDir, "gossip.keys"))
				return !bytes.Equal(b, before[ag.Opts.Name]) && bytes.Count(b, []byte(",")) == 0, string(b)
			})
		}
		// Gossip still works with the new key: every node stays Ready and
		// the pods are the same ones, still running.
		time.Sleep(3 * time.Second)
		c.WaitFormed()
		after := a.WaitPods(t, 3, Labeled("app", "steady"))
		for i := range after {
			if after[i].UID != pods[i].UID {
				t.Errorf("pod %s replaced during the rotation", pods[i].Name)
			}
		}
	})

	t.Run("kill -9 keeps the identity", func(t *testing.T) {
		leader := c.WaitLeader()
		k := (leader + 1) % 3
		ag := c.Agents[k]
		certBefore, _ := os.ReadFile(filepath.Join(ag.Opts.DataDir, "tls", "node.crt"))
		before, err := c.Nodes(0)
		if err != nil {
			t.Fatal(err)
		}
		c.Kill9(k)
		c.Restart(k)
		c.WaitFormed()
		certAfter, _ := os.ReadFile(filepath.Join(ag.Opts.DataDir, "tls", "node.crt"))
		if !bytes.Equal(certBefore, certAfter) {
			t.Error("the restarted agent has another certificate")
		}
		after, err := c.Nodes(k)
		if err != nil {
			t.Fatal(err)
		}
		find := func(nodes []Node) Node {
			for _, n := range nodes {
				if n.Metadata.Name == ag.Opts.Name {
					return n
				}
			}
			return Node{}
		}
		b, n := find(before), find(after)
		if n.Address() != b.Address() || n.Spec.PodCIDR != b.Spec.PodCIDR || len(after) != 3 {
			t.Fatalf("%s rejoined as address %s pod CIDR %s, was %s %s (%d nodes)", ag.Opts.Name, n.Address(), n.Spec.PodCIDR, b.Address(), b.Spec.PodCIDR, len(after))
		}
	})
}

// TestClusterCertificateRenewal: with short-lived node certificates,
// every agent renews its own while the cluster runs, and the cluster
// keeps working across the renewals (Raft, API, reports). With no
// replicas agent2 is a client of the state stream, which leaves the CA
// key out: its agent sends its renewal on to the leader.
func TestClusterCertificateRenewal(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true, Configure: func(_ int, o *Options) {
		o.Args = append(o.Args, "--cert-ttl", "45s", "--raft-replicas-per-zone", "0")
	}})
	poll.Until(t, ClusterTimeout, "agent2 a client of the state stream", func() (bool, string) {
		nodes, err := c.Nodes(1)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range nodes {
			if n.Metadata.Name == "agent2" {
				return n.Status.Raft == "client", NodeSummary(nodes)
			}
		}
		return false, NodeSummary(nodes)
	})
	serial := func(i int) string {
		b, _ := os.ReadFile(filepath.Join(c.Agents[i].Opts.DataDir, "tls", "node.crt"))
		cert, err := pki.ParseCert(b)
		if err != nil {
			return err.Error()
		}
		return hex.EncodeToString(cert.SerialNumber.Bytes())
	}
	first := []string{serial(0), serial(1)}
	for i := range c.Agents {
		poll.Until(t, 90*time.Second, fmt.Sprintf("agent%d to renew its certificate", i+1), func() (bool, string) {
			return serial(i) != first[i], "still serial " + first[i]
		})
	}
	c.Agents[0].Apply(t, manifest(trustDeployment, c.Image))
	c.Agents[1].WaitPods(t, 3, Labeled("app", "steady"))
	c.WaitFormed()
}

var otherCA *pki.CA

func foreignCA(t *testing.T) *pki.CA {
	if otherCA == nil {
		ca, err := pki.NewCA("intruder", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		otherCA = ca
	}
	return otherCA
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// nodeClient is an HTTPS client with an agent's own node certificate, as
// an attacker who stole it would hold it.
func nodeClient(t *testing.T, a *Agent) *http.Client {
	t.Helper()
	dir := filepath.Join(a.Opts.DataDir, "tls")
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{pair},
	}}}
}
