package cluster

import (
	"reflect"
	"slices"
	"testing"
)

func TestConfigRefsAndUsedObjects(t *testing.T) {
	secretKey := func(name string) *EnvVarSource { return &EnvVarSource{SecretKeyRef: &KeyRef{Name: name, Key: "k"}} }
	cmKey := func(name string) *EnvVarSource { return &EnvVarSource{ConfigMapKeyRef: &KeyRef{Name: name, Key: "k"}} }
	tests := []struct {
		name     string
		spec     PodSpec
		refs     []ConfigRef
		used     []ConfigRef
		notUsing ConfigRef
	}{
		{name: "none", spec: PodSpec{Containers: []Container{{Name: "c", Env: []EnvVar{{Name: "A", Value: "x"}}}}}, notUsing: ConfigRef{KindSecret, "s1"}},
		{
			name: "every kind of reference, repeats once",
			spec: PodSpec{
				InitContainers: []Container{{Name: "i", EnvFrom: []EnvFromSource{{SecretRef: &ObjectRef{Name: "s1"}}}}},
				Containers: []Container{{Name: "c",
					Env:     []EnvVar{{Name: "A", ValueFrom: cmKey("c1")}, {Name: "B", ValueFrom: &EnvVarSource{FieldRef: &FieldRef{FieldPath: "metadata.name"}}}, {Name: "C", ValueFrom: secretKey("s1")}},
					EnvFrom: []EnvFromSource{{ConfigMapRef: &ObjectRef{Name: "c2"}}}}},
				Volumes: []Volume{
					{ConfigMap: &ConfigMapVolumeSource{ConfigMapProjection: ConfigMapProjection{Name: "c1"}}},
					{Secret: &SecretVolumeSource{SecretProjection: SecretProjection{Name: "s2"}}},
					{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{ConfigMap: &ConfigMapProjection{Name: "c3"}}, {Secret: &SecretProjection{Name: "s1"}}}}},
				},
			},
			refs:     []ConfigRef{{KindSecret, "s1"}, {KindConfigMap, "c1"}, {KindConfigMap, "c2"}, {KindSecret, "s2"}, {KindConfigMap, "c3"}},
			used:     []ConfigRef{{KindSecret, "s1"}, {KindConfigMap, "c1"}, {KindConfigMap, "c2"}, {KindSecret, "s2"}, {KindConfigMap, "c3"}},
			notUsing: ConfigRef{KindSecret, "c1"}, // a ConfigMap's name is not a Secret's
		},
		{
			name:     "image pull Secrets are used, not config",
			spec:     PodSpec{ImagePullSecrets: []string{"reg", "s1", "reg"}, Containers: []Container{{Name: "c", Env: []EnvVar{{Name: "A", ValueFrom: secretKey("s1")}}}}},
			refs:     []ConfigRef{{KindSecret, "s1"}},
			used:     []ConfigRef{{KindSecret, "s1"}, {KindSecret, "reg"}},
			notUsing: ConfigRef{KindConfigMap, "reg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.ConfigRefs(); !reflect.DeepEqual(got, tt.refs) {
				t.Errorf("ConfigRefs: %v, want %v", got, tt.refs)
			}
			if got := tt.spec.UsedObjects(); !slices.Equal(got, tt.used) {
				t.Errorf("UsedObjects: %v, want %v", got, tt.used)
			}
			for _, r := range tt.used {
				if !tt.spec.uses(r.Kind, r.Name) {
					t.Errorf("uses(%v) false, want true", r)
				}
			}
			if tt.spec.uses(tt.notUsing.Kind, tt.notUsing.Name) {
				t.Errorf("uses(%v) true, want false", tt.notUsing)
			}
		})
	}
}
