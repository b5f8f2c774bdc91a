package integration

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"shoal/internal/poll"
	"shoal/internal/testenv"
	"shoal/internal/testimage"
)

const (
	pullUser     = "puller"
	pullPassword = "pull-Secret-4711"
)

// registryCred is a kubernetes.io/dockerconfigjson Secret for the test
// registry, as `kubectl create secret docker-registry` writes it.
func registryCred(registry string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(pullUser + ":" + pullPassword))
	config := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q,"auth":%q}}}`, registry, pullUser, pullPassword, auth)
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: regcred}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: %s
`, base64.StdEncoding.EncodeToString([]byte(config)))
}

// privatePod runs the private image, with pull secrets if any are named.
func privatePod(name, image string, secrets ...string) string {
	m := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: %s, command: ["sh", "-c", "%s"]}
`, name, image, idle)
	for i, s := range secrets {
		if i == 0 {
			m += "  imagePullSecrets:\n"
		}
		m += "  - name: " + s + "\n"
	}
	return m
}

// waitPullFailure waits until pod's container waits on a failed pull
// (ErrImagePull or ImagePullBackOff) with a message holding every want.
func waitPullFailure(t *testing.T, a *Agent, pod string, want ...string) corev1.ContainerStatus {
	t.Helper()
	var cs corev1.ContainerStatus
	poll.Until(t, PodTimeout, pod+" to fail its pull", func() (bool, string) {
		p, ok := a.Pod(t, pod)
		if !ok {
			return false, pod + " not listed"
		}
		cs, _ = Container(p, "app")
		w := cs.State.Waiting
		if w == nil || (w.Reason != "ErrImagePull" && w.Reason != "ImagePullBackOff") {
			return false, "state: " + Summary([]corev1.Pod{p})
		}
		for _, s := range want {
			if !strings.Contains(w.Message, s) {
				return false, fmt.Sprintf("%s: %q lacks %q", w.Reason, w.Message, s)
			}
		}
		return true, ""
	})
	return cs
}

// TestImagePullSecrets: an image in a registry that asks for basic auth
// (docker-registry with htpasswd, plain HTTP on loopback). A pod without
// pull secrets fails its pull with the registry's 401, in get and
// describe; one naming a Secret that does not exist yet says so, and runs
// once the Secret is applied (the retry reads it); a pod applied with the
// Secret in place runs; a pod without it applied once the image is on the
// node still fails. The password never shows in the pods' output, the
// agent's log, its audit log or its Raft log.
func TestImagePullSecrets(t *testing.T) {
	RequireRoot(t)
	registry := testenv.Registry(t, testenv.WithBasicAuth(pullUser, pullPassword))
	image := registry + "/private/busybox:1"
	testenv.PushImageAs(t, testimage.Busybox(t), image, pullUser, pullPassword)
	a := StartAgent(t, Options{})

	a.Apply(t, privatePod("anonymous", image)+"---\n"+privatePod("early", image, "regcred"))
	cs := waitPullFailure(t, a, "anonymous", "401 Unauthorized")
	t.Logf("anonymous: %s: %s", cs.State.Waiting.Reason, cs.State.Waiting.Message)
	describe := a.Describe(t, "pod", "anonymous")
	if !strings.Contains(describe, "401 Unauthorized") ||
		!(strings.Contains(describe, "ErrImagePull") || strings.Contains(describe, "ImagePullBackOff")) {
		t.Errorf("describe pod anonymous does not show the failed pull:\n%s", describe)
	}
	waitPullFailure(t, a, "early", "401 Unauthorized", `secret "regcred" not found`)

	a.Apply(t, registryCred(registry))
	a.Apply(t, privatePod("private", image, "regcred"))
	a.WaitPods(t, 2, func(p corev1.Pod) bool { return p.Name == "private" || p.Name == "early" })
	if out, code := a.Exec(t, "private", "app", "echo", "pulled-with-credentials"); code != 0 || !strings.Contains(out, "pulled-with-credentials") {
		t.Errorf("exec in private: exit %d, %q", code, out)
	}
	// The image is on the node now, but a pod without the Secret does not
	// get it from there: its pull still goes to the registry, which says
	// no (kubelet's NeverVerifyPreloadedImages).
	a.Apply(t, privatePod("latecomer", image))
	cs = waitPullFailure(t, a, "latecomer", "401 Unauthorized")
	if strings.Contains(cs.State.Waiting.Message, "regcred") {
		t.Errorf("latecomer's message names a secret it does not use: %s", cs.State.Waiting.Message)
	}
	if p, _ := a.Pod(t, "anonymous"); p.Status.Phase == corev1.PodRunning {
		t.Errorf("the pod without pull secrets runs the private image: %s", Summary([]corev1.Pod{p}))
	}
	t.Logf("describe pod latecomer:\n%s", a.Describe(t, "pod", "latecomer"))

	// The credentials live in the sealed Secret and in the node's memory
	// during a pull, nowhere else.
	encoded := base64.StdEncoding.EncodeToString([]byte(pullUser + ":" + pullPassword))
	for what, text := range map[string]string{
		"get pods -o yaml": a.Shoal(t, "get", "pods", "-o", "yaml"),
		"describe pod":     a.Describe(t, "pod", "private"),
		"agent log":        readFile(t, a.Log),
		"raft.db":          readFile(t, filepath.Join(a.Opts.DataDir, "raft", "raft.db")),
		"audit log":        readFile(t, filepath.Join(a.Opts.DataDir, "audit", "audit.log")),
	} {
		if strings.Contains(text, pullPassword) || strings.Contains(text, encoded) {
			t.Errorf("the registry password shows in %s", what)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
