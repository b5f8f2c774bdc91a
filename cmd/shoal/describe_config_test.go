package main

import (
	"bytes"
	"strings"
	"testing"

	"shoal/cluster"
)

// TestDescribePodConfigVolumes: describe names the ConfigMaps and
// Secrets behind a pod's volumes, and why it waits for one.
func TestDescribePodConfigVolumes(t *testing.T) {
	p := &cluster.Pod{Namespace: "default", Name: "web", UID: "u1", NodeName: "n1", Spec: cluster.PodSpec{
		Containers: []cluster.Container{{Name: "app", Image: "busybox"}},
		Volumes: []cluster.Volume{
			{Name: "cfg", ConfigMap: &cluster.ConfigMapVolumeSource{ConfigMapProjection: cluster.ConfigMapProjection{Name: "app-config"}}},
			{Name: "creds", Secret: &cluster.SecretVolumeSource{SecretProjection: cluster.SecretProjection{Name: "db", Optional: true}}},
			{Name: "info", DownwardAPI: &cluster.DownwardAPIVolumeSource{}},
			{Name: "all", Projected: &cluster.ProjectedVolumeSource{Sources: []cluster.VolumeProjection{
				{ConfigMap: &cluster.ConfigMapProjection{Name: "app-config"}}, {Secret: &cluster.SecretProjection{Name: "db"}},
				{DownwardAPI: &cluster.DownwardAPIProjection{}}}}},
		},
	}, Status: cluster.PodStatus{Phase: cluster.PodPending, Reason: "CreateContainerConfigError", Message: `secret "db" not found`,
		Containers: []cluster.ContainerStatus{{Name: "app", State: cluster.ContainerWaiting,
			Reason: "CreateContainerConfigError", Message: `secret "db" not found`}}}}
	var b bytes.Buffer
	if err := describePod(&b, p); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`Reason:      CreateContainerConfigError secret "db" not found`,
		"cfg:    ConfigMap app-config\n",
		"creds:  Secret db (optional)\n",
		"info:   DownwardAPI\n",
		"all:    Projected ConfigMap app-config, Secret db, DownwardAPI\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
