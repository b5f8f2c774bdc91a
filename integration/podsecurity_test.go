package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shoal/internal/poll"
)

const securityPods = `apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
---
apiVersion: v1
kind: Pod
metadata: {name: hardened}
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    seccompProfile: {type: RuntimeDefault}
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "` + idle + `"]
    volumeMounts: [{name: data, mountPath: /data}]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Pod
metadata: {name: rootimage}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: c, image: IMAGE, command: ["sh", "-c", "` + idle + `"]}
---
apiVersion: v1
kind: Pod
metadata: {name: escape}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: vol, emptyDir: {}}]
  initContainers:
  - name: plant
    image: IMAGE
    command: ["sh", "-c", "ln -s / /vol/escape"]
    volumeMounts: [{name: vol, mountPath: /vol}]
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "cat /host/etc/hostname; ` + idle + `"]
    volumeMounts: [{name: vol, mountPath: /host, subPath: escape}]
`

const hostPathPod = `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: h, hostPath: {path: PATH, type: DirectoryOrCreate}}]
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "` + idle + `"]
    volumeMounts: [{name: h, mountPath: /h}]
`

const privilegedPod = `apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "` + idle + `"]
    securityContext: {privileged: true}
`

// TestPodSecurity: on one real agent, the baseline policy refuses the
// host's / and privileged pods at apply and admits them where an admin
// allows; every container runs under seccomp with no-new-privileges; the
// securityContext holds inside the container; runAsNonRoot with a root
// image says why; the subPath symlink escape never reaches the host.
func TestPodSecurity(t *testing.T) {
	a, image := startOne(t)

	r := a.RunInput([]byte(manifest(strings.NewReplacer("NAME", "hostroot", "PATH", "/").Replace(hostPathPod), image)), "apply", "-f", "-")
	if r.Code == 0 || !strings.Contains(r.Stderr, "spec.volumes[0].hostPath.path") || !strings.Contains(r.Stderr, "baseline") {
		t.Fatalf("hostPath / under baseline: %s", r.Err())
	}
	r = a.RunInput([]byte(manifest(privilegedPod, image)), "apply", "-f", "-")
	if r.Code == 0 || !strings.Contains(r.Stderr, "securityContext.privileged") {
		t.Fatalf("privileged under baseline: %s", r.Err())
	}
	if _, ok := a.Pod(t, "hostroot"); ok {
		t.Fatal("a refused pod was stored")
	}

	allowed := t.TempDir()
	a.Shoal(t, "policy", "set", "--allow-host-path", allowed)
	a.Apply(t, manifest(strings.NewReplacer("NAME", "hostdir", "PATH", filepath.Join(allowed, "data")).Replace(hostPathPod), image))
	a.Apply(t, manifest(securityPods, image))
	a.WaitPods(t, 1, Named("hostdir"))
	if out, code := a.Exec(t, "hostdir", "", "sh", "-c", "echo hi > /h/f"); code != 0 {
		t.Fatalf("write to the allowed hostPath: %d %s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(allowed, "data", "f")); err != nil || string(b) != "hi\n" {
		t.Errorf("the allowed host directory: %q %v", b, err)
	}

	a.WaitPods(t, 1, Named("plain"))
	status, _ := a.Exec(t, "plain", "", "cat", "/proc/self/status")
	for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t1", "CapEff:\t00000000a80425fb"} {
		if !strings.Contains(status, want) {
			t.Errorf("default container: no %q in /proc/self/status:\n%s", want, status)
		}
	}

	a.WaitPods(t, 1, Named("hardened"))
	if out, _ := a.Exec(t, "hardened", "", "id"); !strings.Contains(out, "uid=1000") || !strings.Contains(out, "gid=3000") || !strings.Contains(out, "2000") {
		t.Errorf("hardened id: %s", out)
	}
	if out, code := a.Exec(t, "hardened", "", "touch", "/x"); code == 0 {
		t.Errorf("readOnlyRootFilesystem: touch / succeeded: %s", out)
	}
	if out, code := a.Exec(t, "hardened", "", "sh", "-c", "touch /data/x && stat -c %g /data/x"); code != 0 || strings.TrimSpace(out) != "2000" {
		t.Errorf("fsGroup volume: %d %q", code, out)
	}
	if out, _ := a.Exec(t, "hardened", "", "grep", "CapEff", "/proc/self/status"); !strings.Contains(out, "0000000000000000") {
		t.Errorf("capabilities drop ALL: %s", out)
	}

	poll.Until(t, PodTimeout, "rootimage refused with its reason", func() (bool, string) {
		d := a.Describe(t, "pod", "rootimage")
		return strings.Contains(d, "CreateContainerConfigError") && strings.Contains(d, "runAsNonRoot"), d
	})
	poll.Until(t, PodTimeout, "the escape refused with its reason", func() (bool, string) {
		d := a.Describe(t, "pod", "escape")
		return strings.Contains(d, "escape") && strings.Contains(d, "symbolic link"), d
	})
	if p, _ := a.Pod(t, "escape"); IsReady(p) {
		t.Fatal("the subPath escape pod runs")
	}
	host, _ := os.ReadFile("/etc/hostname")
	if logs := a.Run("logs", "escape"); len(host) > 0 && strings.Contains(logs.Stdout, strings.TrimSpace(string(host))) {
		t.Fatalf("the escape pod read the host's /etc/hostname: %s", logs.Stdout)
	}

	a.Shoal(t, "policy", "set", "--level", "privileged")
	a.Apply(t, manifest(privilegedPod, image))
	a.WaitPods(t, 1, Named("priv"))
	if out, _ := a.Exec(t, "priv", "", "grep", "Seccomp:", "/proc/self/status"); !strings.Contains(out, "Seccomp:\t0") {
		t.Errorf("privileged container: %s", out)
	}
}
