package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
)

const configObjects = `
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data:
  level: debug
  app.conf: "greeting=hello"
  1bad: skipped-as-an-env-name
---
apiVersion: v1
kind: Secret
metadata: {name: db-pass}
stringData: {password: s3cret-pw, user: app}
---
apiVersion: v1
kind: Service
metadata: {name: redis-primary}
spec:
  selector: {app: redis}
  ports: [{name: redis, port: 6379}]
`

const configPod = `
apiVersion: v1
kind: Pod
metadata:
  name: cfg
  labels: {app: cfg, tier: front}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {fsGroup: 2000}
  volumes:
  - {name: cfg, configMap: {name: app-config}}
  - {name: items, configMap: {name: app-config, items: [{key: app.conf, path: conf/app.conf, mode: 0600}]}}
  - {name: creds, secret: {secretName: db-pass, defaultMode: 0400}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: level, path: level}]}
      - secret: {name: db-pass, items: [{key: user, path: user}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "IDLE"]
    env:
    - {name: LEVEL, valueFrom: {configMapKeyRef: {name: app-config, key: level}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: db-pass, key: password}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: TIER, valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: OPTIONAL, valueFrom: {configMapKeyRef: {name: nope, key: x, optional: true}}}
    - {name: GREETING, value: "level is $(LEVEL)"}
    envFrom:
    - configMapRef: {name: app-config}
    - {prefix: DB_, secretRef: {name: db-pass}}
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: cfg, mountPath: /etc/app.conf, subPath: app.conf}
    - {name: items, mountPath: /etc/items}
    - {name: creds, mountPath: /etc/creds}
    - {name: info, mountPath: /etc/info}
    - {name: all, mountPath: /etc/all}
`

const latePod = `
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "IDLE"]
    env:
    - {name: TOKEN, valueFrom: {secretKeyRef: {name: late-secret, key: token}}}
`

// TestConfigConsumption: from inside a running pod, the environment taken
// from a ConfigMap, a Secret, the downward API and envFrom, and the files
// of configMap, secret, downwardAPI and projected volumes; an edit to the
// ConfigMap reaches the mounted file (not the env, not a subPath) within
// 10 s; a pod whose Secret does not exist waits with
// CreateContainerConfigError and runs once the Secret is applied.
func TestConfigConsumption(t *testing.T) {
	a, image := startOne(t)
	a.Apply(t, configObjects)
	pod := strings.ReplaceAll(manifest(configPod, image), "IDLE", idle)
	a.Apply(t, pod)
	p := a.WaitPods(t, 1, Named("cfg"))[0]
	sh := func(script string) string {
		t.Helper()
		out, code := a.Exec(t, "cfg", "app", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("exec %q: exit %d: %s", script, code, out)
		}
		return strings.TrimSpace(out)
	}

	t.Run("env", func(t *testing.T) {
		env := map[string]string{}
		// PID 1's environment as the container got it: a shell would drop
		// names like app.conf, which are valid in Kubernetes.
		for line := range strings.Lines(sh("tr '\\0' '\\n' </proc/1/environ")) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				env[k] = v
			}
		}
		// Service links carry the Service's virtual IP, as the kubelet's.
		redis := serviceIP(t, a, "redis-primary")
		want := map[string]string{
			"LEVEL": "debug", "PASSWORD": "s3cret-pw", "POD_NAME": "cfg", "POD_IP": p.Status.PodIP,
			"NODE": p.Spec.NodeName, "TIER": "front", "MEM_MI": "64", "GREETING": "level is debug",
			"level": "debug", "app.conf": "greeting=hello", "DB_password": "s3cret-pw", "DB_user": "app",
			"REDIS_PRIMARY_SERVICE_HOST": redis,
			"REDIS_PRIMARY_SERVICE_PORT": "6379",
			"REDIS_PRIMARY_PORT":         "tcp://" + redis + ":6379",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("env %s=%q, want %q", k, env[k], v)
			}
		}
		for _, k := range []string{"OPTIONAL", "1bad"} {
			if _, ok := env[k]; ok {
				t.Errorf("env has %s, which must be left out", k)
			}
		}
	})

	t.Run("files", func(t *testing.T) {
		for path, want := range map[string]string{
			"/etc/cfg/level":           "debug",
			"/etc/cfg/app.conf":        "greeting=hello",
			"/etc/app.conf":            "greeting=hello",
			"/etc/items/conf/app.conf": "greeting=hello",
			"/etc/creds/password":      "s3cret-pw",
			"/etc/info/labels":         "app=\"cfg\"\ntier=\"front\"",
			"/etc/info/mem":            "64",
			"/etc/all/level":           "debug",
			"/etc/all/user":            "app",
			"/etc/all/name":            "cfg",
			"/etc/cfg/..data/level":    "debug",
		} {
			if got := sh("cat " + path); got != want {
				t.Errorf("%s: %q, want %q", path, got, want)
			}
		}
		// Modes with fsGroup 2000: the item's 0600 and the Secret's 0400
		// gain group read, and the group is the pod's.
		if got := sh("stat -L -c '%a %g' /etc/items/conf/app.conf /etc/creds/password /etc/cfg/level"); got != "640 2000\n440 2000\n644 2000" {
			t.Errorf("modes and groups:\n%s", got)
		}
		if got := sh("ls -a /etc/cfg | tr '\\n' ' '"); !strings.Contains(got, "..data") || !strings.Contains(got, "level") {
			t.Errorf("ls -a /etc/cfg: %s", got)
		}
		// Secret (and projected) data only in memory; every one read-only.
		mounts := map[string][]string{}
		for line := range strings.Lines(sh("cat /proc/mounts")) {
			if f := strings.Fields(line); len(f) >= 4 {
				mounts[f[1]] = f
			}
		}
		for mp, tmpfs := range map[string]bool{"/etc/creds": true, "/etc/all": true, "/etc/info": true, "/etc/cfg": false, "/etc/app.conf": false} {
			f := mounts[mp]
			if f == nil || (f[2] == "tmpfs") != tmpfs || !strings.HasPrefix(f[3], "ro") {
				t.Errorf("mount %s: %v, want tmpfs %v, read-only", mp, f, tmpfs)
			}
		}
		if out, code := a.Exec(t, "cfg", "app", "sh", "-c", "echo x > /etc/cfg/new"); code == 0 {
			t.Errorf("writing into the configMap volume succeeded: %s", out)
		}
	})

	t.Run("edit reaches the mounted file", func(t *testing.T) {
		edited := strings.Replace(strings.Replace(configObjects, "level: debug", "level: info", 1),
			`app.conf: "greeting=hello"`, `app.conf: "greeting=bye"`, 1)
		a.Apply(t, edited)
		applied := time.Now()
		var seen time.Duration
		poll.Until(t, 10*time.Second, "the edit in /etc/cfg/level", func() (bool, string) {
			out, _ := a.Exec(t, "cfg", "app", "cat", "/etc/cfg/level", "/etc/all/level")
			if out == "infoinfo" {
				seen = time.Since(applied)
				return true, ""
			}
			return false, out
		})
		t.Logf("ConfigMap edit visible in the mounted files %v after apply returned", seen.Round(time.Millisecond))
		if got := sh("cat /etc/cfg/app.conf"); got != "greeting=bye" {
			t.Errorf("/etc/cfg/app.conf: %q", got)
		}
		// A subPath mount and the environment keep what the container
		// started with, as in Kubernetes.
		if got := sh("cat /etc/app.conf; echo; echo $LEVEL"); got != "greeting=hello\ndebug" {
			t.Errorf("subPath file and $LEVEL: %q, want the values the container started with", got)
		}
	})

	t.Run("missing secret waits, then runs", func(t *testing.T) {
		a.Apply(t, strings.ReplaceAll(manifest(latePod, image), "IDLE", idle))
		const msg = `secret "late-secret" not found`
		poll.Until(t, PodTimeout, "late to wait with CreateContainerConfigError", func() (bool, string) {
			p, ok := a.Pod(t, "late")
			if !ok {
				return false, "no pod late"
			}
			cs, _ := Container(p, "app")
			if p.Status.Phase != corev1.PodPending || cs.State.Waiting == nil ||
				cs.State.Waiting.Reason != "CreateContainerConfigError" || cs.State.Waiting.Message != msg {
				return false, fmt.Sprintf("%s: %+v", Summary([]corev1.Pod{p}), cs.State)
			}
			return true, ""
		})
		if d := a.Describe(t, "pod", "late"); !strings.Contains(d, "CreateContainerConfigError") || !strings.Contains(d, msg) {
			t.Errorf("describe pod late does not say why it waits:\n%s", d)
		}
		a.Apply(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: late-secret}\nstringData: {token: t0k3n}\n")
		applied := time.Now()
		a.WaitPods(t, 1, Named("late"))
		t.Logf("late ran %v after its Secret was applied", time.Since(applied).Round(time.Millisecond))
		if out, code := a.Exec(t, "late", "app", "sh", "-c", "echo $TOKEN"); code != 0 || strings.TrimSpace(out) != "t0k3n" {
			t.Errorf("$TOKEN: exit %d, %q", code, out)
		}
	})

	// The Kubernetes docs' MySQL example, its directory applied unchanged
	// (ConfigMap and Services), mounted the way its StatefulSet's init
	// container mounts it.
	t.Run("kubernetes docs mysql config", func(t *testing.T) {
		if r := a.Run("apply", "-f", "../manifest/testdata/k8s-examples/mysql"); r.Code != 0 {
			t.Fatal(r.Err())
		}
		a.Apply(t, strings.ReplaceAll(manifest(mysqlConfigPod, image), "IDLE", idle))
		a.WaitPods(t, 1, Named("mysql-conf"))
		out, code := a.Exec(t, "mysql-conf", "app", "cat", "/mnt/config-map/primary.cnf")
		if code != 0 || !strings.Contains(out, "log-bin") {
			t.Errorf("primary.cnf: exit %d, %q", code, out)
		}
	})
}

const mysqlConfigPod = `
apiVersion: v1
kind: Pod
metadata: {name: mysql-conf}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: config-map, configMap: {name: mysql}}]
  containers:
  - name: app
    image: IMAGE
    command: ["sh", "-c", "IDLE"]
    volumeMounts: [{name: config-map, mountPath: /mnt/config-map}]
`
