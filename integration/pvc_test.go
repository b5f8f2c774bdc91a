package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"shoal/internal/poll"
)

const pvcDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: keeper}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: keeper}}
  template:
    metadata: {labels: {app: keeper}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "IDLE"]
        volumeMounts: [{name: store, mountPath: /store}]
      volumes:
      - name: store
        persistentVolumeClaim: {claimName: store}
`

const pvcClaim = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: store}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
`

const pvcBarePod = `apiVersion: v1
kind: Pod
metadata: {name: holder}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: IMAGE
    command: ["sh", "-c", "IDLE"]
    volumeMounts: [{name: store, mountPath: /store}]
  volumes:
  - name: store
    persistentVolumeClaim: {claimName: store}
`

// TestClusterPersistentVolumeClaim: a Deployment's pod waits for its
// claim, binds it to its node and writes a file; a replacement pod (pod
// deleted) goes to that node and reads it, as does the pod moved by a
// drain, which takes the data along. The claim outlives the Deployment;
// deleting it while a pod uses it waits for that pod, then its data goes.
func TestClusterPersistentVolumeClaim(t *testing.T) {
	c := StartClusterWith(t, ClusterOptions{N: 2, Image: true})
	a := c.Any()
	yaml := func(s string) string { return strings.ReplaceAll(manifest(s, c.Image), "IDLE", idle) }
	keeper := Labeled("app", "keeper")

	a.Apply(t, yaml(pvcDeployment))
	poll.Until(t, PodTimeout, "the pod to wait for its claim", func() (bool, string) {
		pods := Select(a.Pods(t), keeper)
		if len(pods) != 1 {
			return false, Summary(pods)
		}
		r := a.Run("describe", "pod", pods[0].Name)
		return strings.Contains(r.Stdout, `persistentvolumeclaim "store" not found`), r.Stdout + r.Stderr
	})
	a.Apply(t, yaml(pvcClaim))
	first := a.WaitPods(t, 1, keeper)[0]
	node := first.Spec.NodeName
	if out := a.Shoal(t, "get", "pvc", "store"); !strings.Contains(out, "Bound") || !strings.Contains(out, node) {
		t.Fatalf("get pvc: %s", out)
	}
	if out, code := a.Exec(t, first.Name, "c", "sh", "-c", "echo precious > /store/file"); code != 0 {
		t.Fatalf("write the claim: exit %d: %s", code, out)
	}

	// Deleted: the replacement goes to the claim's node and reads the file.
	a.Shoal(t, "delete", "pod", first.Name)
	second := waitReplacement(t, a, first.UID)
	if second.Spec.NodeName != node {
		t.Fatalf("replacement on %s, the claim is on %s", second.Spec.NodeName, node)
	}
	readStore(t, a, second.Name)

	// Drained: the pod moves, and the data with it.
	c.Shoal(t, "drain", node)
	third := waitReplacement(t, a, second.UID)
	if third.Spec.NodeName == node {
		t.Fatalf("pod still on the drained node %s", node)
	}
	readStore(t, a, third.Name)
	c.Shoal(t, "uncordon", node)
	newNode := third.Spec.NodeName
	poll.Until(t, PodTimeout, "the claim to be bound to the new node", func() (bool, string) {
		out := a.Shoal(t, "get", "pvc", "store")
		return strings.Contains(out, newNode), out
	})

	// The claim outlives the Deployment.
	a.Shoal(t, "delete", "deployment", "keeper")
	poll.Until(t, PodTimeout, "the Deployment's pods to go", func() (bool, string) {
		pods := Select(a.Pods(t), keeper)
		return len(pods) == 0, Summary(pods)
	})
	if out := a.Shoal(t, "describe", "pvc", "store"); !strings.Contains(out, "Bound") || !strings.Contains(out, newNode) {
		t.Fatalf("claim after the Deployment went:\n%s", out)
	}

	// Deleting it while a pod uses it waits for the pod.
	a.Apply(t, yaml(pvcBarePod))
	holder := a.WaitPods(t, 1, Named("holder"))[0]
	if holder.Spec.NodeName != newNode {
		t.Fatalf("holder on %s, the claim is on %s", holder.Spec.NodeName, newNode)
	}
	readStore(t, a, "holder")
	a.Shoal(t, "delete", "pvc", "store")
	if out := a.Shoal(t, "get", "pvc", "store"); !strings.Contains(out, "Terminating") {
		t.Fatalf("claim in use after delete: %s", out)
	}
	dir := filepath.Join(c.Agents[c.Index(newNode)].Opts.DataDir, "volumes", "default", "pvc_store")
	if _, err := os.Stat(filepath.Join(dir, "file")); err != nil {
		t.Fatalf("data of a claim in use: %v", err)
	}
	a.Shoal(t, "delete", "pod", "holder")
	poll.Until(t, PodTimeout, "the claim and its data to go", func() (bool, string) {
		r := a.Run("get", "pvc", "store")
		_, err := os.Stat(dir)
		return r.Code != 0 && os.IsNotExist(err), fmt.Sprintf("get pvc: %s%s; data dir: %v", r.Stdout, r.Stderr, err)
	})
}

// waitReplacement waits for the one keeper pod that is not old, running
// and ready.
func waitReplacement(t *testing.T, a *Agent, old types.UID) corev1.Pod {
	t.Helper()
	var got corev1.Pod
	poll.Until(t, PodTimeout, "a replacement pod", func() (bool, string) {
		pods := Select(a.Pods(t), Labeled("app", "keeper"))
		if len(pods) != 1 || pods[0].UID == old || pods[0].Status.Phase != corev1.PodRunning || !IsReady(pods[0]) {
			return false, Summary(pods)
		}
		got = pods[0]
		return true, ""
	})
	return got
}

func readStore(t *testing.T, a *Agent, pod string) {
	t.Helper()
	out, code := a.Exec(t, pod, "c", "cat", "/store/file")
	if code != 0 || strings.TrimSpace(out) != "precious" {
		t.Fatalf("pod %s reads /store/file %q (exit %d), want what the first pod wrote", pod, out, code)
	}
}
