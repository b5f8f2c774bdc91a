package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzDecode: no input may panic the decoder, and an accepted input must
// give complete objects that encode.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/k8s-examples/*.yaml")
	more, _ := filepath.Glob("testdata/k8s-examples/*/*.yaml")
	secure, _ := filepath.Glob("testdata/security/*.yaml")
	placement, _ := filepath.Glob("testdata/placement/*.yaml")
	autoscaling, _ := filepath.Glob("testdata/autoscaling/*.yaml")
	for _, p := range slices.Concat(files, more, secure, placement, autoscaling) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(deploy))
	f.Add([]byte(richDeploy))
	f.Add([]byte(configPod))
	f.Add([]byte("---\n--- #\n{a: [1, {b: *x}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode(data, "fuzz.yaml")
		if err != nil {
			if objs != nil {
				t.Fatal("objects returned with an error")
			}
			return
		}
		for _, o := range objs {
			n := 0
			if o.Workload != nil {
				n++
				WorkloadToK8s(o.Workload, nil)
			}
			if o.Pod != nil {
				n++
				PodToK8s(o.Pod)
			}
			if o.Service != nil {
				n++
				ServiceToK8s(o.Service)
			}
			if o.Generic != nil {
				n++
				ObjectToK8s(o.Generic, o.SecretData)
			}
			if n != 1 || o.Name == "" || (o.Namespace == "") == (o.Generic == nil || o.Generic.Kind.Namespaced()) || o.Doc < 1 || o.Line < 1 {
				t.Fatalf("incomplete object %+v", o)
			}
		}
	})
}
