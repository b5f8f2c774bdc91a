package node

import (
	"strings"
	"testing"
	"time"

	"shoal/cluster"
	"shoal/seal"
)

func (f *fakeRuntime) startedEnv(uid, container string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.started[uid+"/"+container]
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func (f *fakeRuntime) volume(uid, name string) (map[string]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	files, ok := f.volumes[uid+"/"+name]
	out := map[string]string{}
	for _, fl := range files {
		out[fl.Path] = string(fl.Data)
	}
	return out, ok
}

func putConfigMap(h *harness, name string, data map[string]string) {
	h.src.update(func(t *cluster.Txn) {
		t.PutObject(&cluster.Object{Kind: cluster.KindConfigMap, Namespace: cluster.DefaultNamespace, Name: name, Data: data})
	})
}

// TestMissingConfigMapWaitsThenStarts: a container whose env needs a
// ConfigMap that does not exist is not created; the pod says why, and it
// starts as soon as the ConfigMap is applied, well before any back-off.
func TestMissingConfigMapWaitsThenStarts(t *testing.T) {
	pod := newPod("web", "app")
	pod.Spec.Containers[0].Env = []cluster.EnvVar{
		{Name: "LEVEL", ValueFrom: &cluster.EnvVarSource{ConfigMapKeyRef: &cluster.KeyRef{Name: "app-config", Key: "level"}}},
		{Name: "POD_IP", ValueFrom: &cluster.EnvVarSource{FieldRef: &cluster.FieldRef{FieldPath: "status.podIP"}}},
	}
	pod.Spec.Containers[0].Args = []string{"--level=$(LEVEL)"}
	h := start(t, func(h *harness) { h.src.putPod(pod) }, func(c *Config) {
		c.BackoffBase, c.BackoffMax = time.Hour, time.Hour // only a change of the ConfigMap can retry in time
	})
	h.waitFor("CreateContainerConfigError", func() bool {
		st := h.status("web")
		return st.Phase == cluster.PodPending && st.Reason == "CreateContainerConfigError" &&
			st.Message == `configmap "app-config" not found` &&
			h.ctrStatus("web", "app").Reason == "CreateContainerConfigError"
	})
	if n := len(h.rt.callsOf("StartContainer")); n != 0 {
		t.Fatalf("%d StartContainer calls with the ConfigMap missing", n)
	}
	// The key is missing too: still waiting, saying so.
	putConfigMap(h, "app-config", map[string]string{"other": "x"})
	h.waitFor("the missing key named", func() bool {
		return h.status("web").Message == "couldn't find key level in ConfigMap default/app-config"
	})
	applied := time.Now()
	putConfigMap(h, "app-config", map[string]string{"level": "debug"})
	h.waitFor("running", func() bool { return h.status("web").Phase == cluster.PodRunning })
	t.Logf("started %v after the ConfigMap was applied", time.Since(applied).Round(time.Millisecond))
	env := h.rt.startedEnv("web-uid", "app")
	if env["LEVEL"] != "debug" || env["POD_IP"] != "127.0.0.1" {
		t.Errorf("env %v, want LEVEL=debug and POD_IP=127.0.0.1 (the fake sandbox's)", env)
	}
	h.rt.mu.Lock()
	args := h.rt.started["web-uid/app"].Args
	h.rt.mu.Unlock()
	if strings.Join(args, " ") != "--level=debug" {
		t.Errorf("args %q, want $(LEVEL) expanded", args)
	}

	// Env does not follow the ConfigMap: no restart when it changes.
	putConfigMap(h, "app-config", map[string]string{"level": "info"})
	h.settle(3)
	if n := len(h.rt.callsOf("StartContainer")); n != 1 {
		t.Errorf("%d StartContainer calls after the ConfigMap changed, want 1", n)
	}
}

// TestConfigVolumeWrittenBeforeStartAndFollowed: a config volume is
// written before any container starts, follows the ConfigMap while the
// pod runs (without restarting it), and keeps its content when the
// ConfigMap goes away.
func TestConfigVolumeWrittenBeforeStartAndFollowed(t *testing.T) {
	pod := newPod("web", "app")
	pod.Labels = map[string]string{"app": "web"}
	pod.Spec.Volumes = []cluster.Volume{
		{Name: "cfg", ConfigMap: &cluster.ConfigMapVolumeSource{
			ConfigMapProjection: cluster.ConfigMapProjection{Name: "app-config"}, DefaultMode: 0o644}},
		{Name: "info", DownwardAPI: &cluster.DownwardAPIVolumeSource{DefaultMode: 0o644, Items: []cluster.DownwardAPIFile{
			{Path: "labels", FieldRef: &cluster.FieldRef{FieldPath: "metadata.labels"}}}}},
	}
	h := start(t, func(h *harness) { h.src.putPod(pod) }, nil)
	h.waitFor("waiting for the volume", func() bool {
		st := h.status("web")
		return st.Reason == "ContainerCreating" &&
			st.Message == `MountVolume.SetUp failed for volume "cfg": configmap "app-config" not found`
	})
	if n := len(h.rt.callsOf("StartContainer")) + len(h.rt.callsOf("PullImage")); n != 0 {
		t.Fatalf("%d pulls and starts before the volume was written", n)
	}
	putConfigMap(h, "app-config", map[string]string{"app.conf": "v1"})
	h.waitFor("running", func() bool { return h.status("web").Phase == cluster.PodRunning })
	calls := h.rt.callsOf("")
	firstWrite := -1
	for i, c := range calls {
		if c.op == "WriteVolume" && c.container == "cfg" && firstWrite < 0 {
			firstWrite = i
		}
		if c.op == "StartContainer" && (firstWrite < 0 || i < firstWrite) {
			t.Fatalf("container started before volume cfg was written: %v", calls)
		}
	}
	if files, _ := h.rt.volume("web-uid", "cfg"); files["app.conf"] != "v1" {
		t.Fatalf("volume cfg %v", files)
	}

	putConfigMap(h, "app-config", map[string]string{"app.conf": "v2", "new": "x"})
	h.waitFor("the volume updated", func() bool {
		files, _ := h.rt.volume("web-uid", "cfg")
		return files["app.conf"] == "v2" && files["new"] == "x"
	})
	h.src.modify(cluster.DefaultNamespace, "web", func(p *cluster.Pod) { p.Labels["tier"] = "front" })
	h.waitFor("the downward API volume updated", func() bool {
		files, _ := h.rt.volume("web-uid", "info")
		return files["labels"] == "app=\"web\"\ntier=\"front\""
	})
	cfgWrites := func() int {
		n := 0
		for _, c := range h.rt.callsOf("WriteVolume") {
			if c.container == "cfg" {
				n++
			}
		}
		return n
	}
	writes := cfgWrites()
	h.src.update(func(t *cluster.Txn) { t.DeleteObject(cluster.KindConfigMap, cluster.DefaultNamespace, "app-config") })
	h.settle(3)
	if files, _ := h.rt.volume("web-uid", "cfg"); files["app.conf"] != "v2" {
		t.Errorf("volume after the ConfigMap was deleted: %v, want its last content kept", files)
	}
	if n := cfgWrites(); n != writes {
		t.Errorf("%d more writes of cfg after the ConfigMap was deleted", n-writes)
	}
	if n := len(h.rt.callsOf("StartContainer")); n != 1 || h.status("web").Phase != cluster.PodRunning {
		t.Errorf("%d starts, phase %s: a volume update must not restart the pod", n, h.status("web").Phase)
	}
}

func TestSecretsOpenedWithTheKeyring(t *testing.T) {
	key, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := seal.InMemory(key)
	sealed, err := keys.Seal(key.ID, cluster.DefaultNamespace, "db", map[string][]byte{"password": []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	secretPod := func(name string) *cluster.Pod {
		p := newPod(name, "app")
		p.Spec.Containers[0].Env = []cluster.EnvVar{{Name: "PW",
			ValueFrom: &cluster.EnvVarSource{SecretKeyRef: &cluster.KeyRef{Name: "db", Key: "password"}}}}
		p.Spec.Volumes = []cluster.Volume{{Name: "creds", Secret: &cluster.SecretVolumeSource{
			SecretProjection: cluster.SecretProjection{Name: "db"}, DefaultMode: 0o400}}}
		return p
	}
	setup := func(h *harness) {
		h.src.update(func(t *cluster.Txn) {
			t.PutObject(&cluster.Object{Kind: cluster.KindSecret, Namespace: cluster.DefaultNamespace, Name: "db",
				Sealed: sealed, SecretKeys: []string{"password"}})
			t.PutPod(secretPod("web"))
		})
	}
	t.Run("keyring", func(t *testing.T) {
		h := start(t, setup, func(c *Config) { c.Secrets = keys })
		h.waitFor("running", func() bool { return h.status("web").Phase == cluster.PodRunning })
		if env := h.rt.startedEnv("web-uid", "app"); env["PW"] != "s3cret" {
			t.Errorf("env %v", env)
		}
		files, _ := h.rt.volume("web-uid", "creds")
		h.rt.mu.Lock()
		mode := h.rt.volumes["web-uid/creds"][0].Mode
		h.rt.mu.Unlock()
		if files["password"] != "s3cret" || mode != 0o400 {
			t.Errorf("volume creds %v, mode %v", files, mode)
		}
	})
	t.Run("no keyring", func(t *testing.T) {
		h := start(t, setup, nil)
		h.waitFor("waiting, saying why", func() bool {
			st := h.status("web")
			return st.Reason == "ContainerCreating" && strings.Contains(st.Message, "this node cannot open Secrets")
		})
	})
}

// TestConfigErrorNotRetriedWithoutChange: a configuration error waits for
// a change (or the back-off), not a busy loop.
func TestConfigErrorNotRetriedWithoutChange(t *testing.T) {
	pod := newPod("web", "app")
	pod.Spec.Containers[0].EnvFrom = []cluster.EnvFromSource{{SecretRef: &cluster.ObjectRef{Name: "missing"}}}
	h := start(t, func(h *harness) { h.src.putPod(pod) }, func(c *Config) { c.BackoffBase, c.BackoffMax = time.Hour, time.Hour })
	h.waitFor("CreateContainerConfigError", func() bool {
		return h.ctrStatus("web", "app").Message == `secret "missing" not found`
	})
	reports := h.rep.calls()
	// Unrelated changes: the pod is looked at again, nothing is reported.
	for i := range 5 {
		putConfigMap(h, "unrelated", map[string]string{"i": string(rune('a' + i))})
	}
	h.settle(3)
	if n := h.rep.calls() - reports; n != 0 {
		t.Errorf("%d status reports while nothing changed for the pod", n)
	}
}
