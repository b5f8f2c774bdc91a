package cluster

import (
	"reflect"
	"slices"
	"testing"
)

func TestConfigRefsAndSecretNames(t *testing.T) {
	secretKey := func(name string) *EnvVarSource { return &EnvVarSource{SecretKeyRef: &KeyRef{Name: name, Key: "k"}} }
	cmKey := func(name string) *EnvVarSource { return &EnvVarSource{ConfigMapKeyRef: &KeyRef{Name: name, Key: "k"}} }
	tests := []struct {
		name     string
		spec     PodSpec
		refs     []ConfigRef
		secrets  []string
		notUsing string
	}{
		{name: "none", spec: PodSpec{Containers: []Container{{Name: "c", Env: []EnvVar{{Name: "A", Value: "x"}}}}}, notUsing: "s1"},
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
			secrets:  []string{"s1", "s2"},
			notUsing: "c1", // a ConfigMap's name is not a Secret's
		},
		{
			name:     "image pull Secrets are used, not config",
			spec:     PodSpec{ImagePullSecrets: []string{"reg", "s1", "reg"}, Containers: []Container{{Name: "c", Env: []EnvVar{{Name: "A", ValueFrom: secretKey("s1")}}}}},
			refs:     []ConfigRef{{KindSecret, "s1"}},
			secrets:  []string{"s1", "reg"},
			notUsing: "s2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.ConfigRefs(); !reflect.DeepEqual(got, tt.refs) {
				t.Errorf("ConfigRefs: %v, want %v", got, tt.refs)
			}
			if got := tt.spec.SecretNames(); !slices.Equal(got, tt.secrets) {
				t.Errorf("SecretNames: %v, want %v", got, tt.secrets)
			}
			for _, name := range tt.secrets {
				if !tt.spec.usesSecret(name) {
					t.Errorf("usesSecret(%q) false, want true", name)
				}
			}
			if tt.spec.usesSecret(tt.notUsing) {
				t.Errorf("usesSecret(%q) true, want false", tt.notUsing)
			}
		})
	}
}
