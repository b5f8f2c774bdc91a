package manifest

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"shoal/cluster"
)

func TestVolumeClaimDecode(t *testing.T) {
	head := "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n"
	standard := "standard"
	tests := []struct {
		name, spec string
		want       *cluster.VolumeClaim
		err        string
	}{
		{"minimal", "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
			&cluster.VolumeClaim{AccessModes: []string{"ReadWriteOnce"}, Storage: 1 << 30}, ""},
		{"every field", "spec:\n  accessModes: [ReadWriteOncePod]\n  storageClassName: standard\n  volumeMode: Filesystem\n  resources: {requests: {storage: 500Mi}}\n",
			&cluster.VolumeClaim{AccessModes: []string{"ReadWriteOncePod"}, Storage: 500 << 20, StorageClassName: &standard, VolumeMode: "Filesystem"}, ""},
		{"ReadWriteMany", "spec: {accessModes: [ReadWriteMany], resources: {requests: {storage: 1Gi}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.accessModes[0]: "ReadWriteMany" is not supported by Shoal (ReadWriteOnce or ReadWriteOncePod: a claim is a directory on one node)`},
		{"ReadOnlyMany", "spec: {accessModes: [ReadWriteOnce, ReadOnlyMany], resources: {requests: {storage: 1Gi}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.accessModes[1]: "ReadOnlyMany" is not supported by Shoal (ReadWriteOnce or ReadWriteOncePod: a claim is a directory on one node)`},
		{"no access mode", "spec: {resources: {requests: {storage: 1Gi}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.accessModes: required (ReadWriteOnce or ReadWriteOncePod)`},
		{"block", "spec: {accessModes: [ReadWriteOnce], volumeMode: Block, resources: {requests: {storage: 1Gi}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.volumeMode: "Block" is not supported by Shoal (Filesystem only)`},
		{"no size", "spec: {accessModes: [ReadWriteOnce]}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.resources.requests.storage: required (the claim's size, as Kubernetes asks; Shoal does not limit it)`},
		{"other resource", "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi, cpu: 1}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.resources.requests.cpu: resource "cpu" is not supported for claims (storage only)`},
		{"selector", "spec: {accessModes: [ReadWriteOnce], selector: {matchLabels: {a: b}}, resources: {requests: {storage: 1Gi}}}\n", nil,
			`s.yaml: document 1 (PersistentVolumeClaim "data", line 4): spec.selector: not supported by Shoal`},
		{"bad class", "spec: {accessModes: [ReadWriteOnce], storageClassName: Fast_SSD, resources: {requests: {storage: 1Gi}}}\n", nil,
			`spec.storageClassName: "Fast_SSD" is invalid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(head+tt.spec), "s.yaml")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error: got %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := objs[0].Generic
			if got.Kind != cluster.KindPersistentVolumeClaim || got.Namespace != "default" || got.Name != "data" {
				t.Errorf("object: got %s %s/%s", got.Kind, got.Namespace, got.Name)
			}
			if !reflect.DeepEqual(got.Claim, tt.want) {
				t.Errorf("claim: got %+v, want %+v", got.Claim, tt.want)
			}
		})
	}
}

func TestPodClaimVolume(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: busybox, volumeMounts: [{name: d, mountPath: /d}]}]\n      volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]\n"
	objs, err := Decode([]byte(doc), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := objs[0].Workload
	want := []cluster.Volume{{Name: "d", Claim: &cluster.ClaimSource{ClaimName: "data", Standalone: true}}}
	if !reflect.DeepEqual(w.Template.Volumes, want) {
		t.Fatalf("volumes: got %+v, want %+v", w.Template.Volumes, want)
	}
	// Written back as the pod volume it was, not as a claim template.
	b, err := yaml.Marshal(encodeObject(objs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "      - name: d\n        persistentVolumeClaim:\n          claimName: data\n") {
		t.Errorf("encoded template lacks the claim volume:\n%s", b)
	}
}

func TestWithClaimStatus(t *testing.T) {
	o := &cluster.Object{Kind: cluster.KindPersistentVolumeClaim, Namespace: "default", Name: "data",
		Claim: &cluster.VolumeClaim{AccessModes: []string{"ReadWriteOnce"}, Storage: 1 << 30, Terminating: true}}
	tests := []struct {
		st       cluster.ClaimStatus
		phase    corev1.PersistentVolumeClaimPhase
		node     string
		capacity bool
	}{
		{cluster.ClaimStatus{Phase: cluster.ClaimPending}, corev1.ClaimPending, "", false},
		{cluster.ClaimStatus{Phase: cluster.ClaimBound, Node: "n2"}, corev1.ClaimBound, "n2", true},
	}
	for _, tt := range tests {
		pvc := WithClaimStatus(ObjectToK8s(o, nil), tt.st).(*corev1.PersistentVolumeClaim)
		if pvc.Status.Phase != tt.phase || pvc.Annotations[SelectedNodeAnnotation] != tt.node {
			t.Errorf("%+v: got phase %s node %q", tt.st, pvc.Status.Phase, pvc.Annotations[SelectedNodeAnnotation])
		}
		if _, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok != tt.capacity {
			t.Errorf("%+v: capacity shown %t, want %t", tt.st, ok, tt.capacity)
		}
		if !reflect.DeepEqual(pvc.Finalizers, []string{"kubernetes.io/pvc-protection"}) {
			t.Errorf("a terminating claim shows finalizers %v", pvc.Finalizers)
		}
	}
}
