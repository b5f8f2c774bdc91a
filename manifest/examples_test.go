package manifest

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"shoal/cluster"
)

// The real Kubernetes manifests in testdata/k8s-examples (see its README)
// convert correctly.

func TestExamplesAccepted(t *testing.T) {
	dir := "testdata/k8s-examples/"
	tests := []struct {
		paths []string
		kinds []string // Kind/namespace/name of each object, in order
	}{
		{[]string{"deployment-sidecar.yaml"}, []string{"Deployment/default/myapp"}},
		{[]string{"php-apache.yaml"}, []string{"Deployment/default/php-apache", "Service/default/php-apache"}},
		{[]string{"web.yaml"}, []string{"Service/default/nginx", "StatefulSet/default/web"}},
		{[]string{"zookeeper.yaml"}, []string{"Service/default/zk-hs", "Service/default/zk-cs", "PodDisruptionBudget/default/zk-pdb", "StatefulSet/default/zk"}},
		{[]string{"guestbook"}, []string{
			"Deployment/default/frontend", "Service/default/frontend",
			"Deployment/default/redis-follower", "Service/default/redis-follower",
			"Deployment/default/redis-leader", "Service/default/redis-leader"}},
		{[]string{"mysql"}, []string{"ConfigMap/default/mysql", "Service/default/mysql", "Service/default/mysql-read"}},
		{[]string{"wordpress/mysql-deployment.yaml"}, []string{
			"Service/default/wordpress-mysql", "PersistentVolumeClaim/default/mysql-pv-claim", "Deployment/default/wordpress-mysql"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, ","), func(t *testing.T) {
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, dir+p)
			}
			objs, err := Load(paths, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Kind+"/"+o.Namespace+"/"+o.Name)
			}
			if !reflect.DeepEqual(got, tt.kinds) {
				t.Errorf("objects: got %v, want %v", got, tt.kinds)
			}
		})
	}
}

func loadOne(t *testing.T, file, kind, name string) Object {
	t.Helper()
	objs, err := Load([]string{filepath.Join("testdata/k8s-examples", file)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("%s: no %s %q", file, kind, name)
	return Object{}
}

func TestExampleSidecar(t *testing.T) {
	o := loadOne(t, "deployment-sidecar.yaml", KindDeployment, "myapp")
	w := o.Workload
	want := &cluster.Workload{
		Kind: cluster.KindDeployment, Namespace: "default", Name: "myapp",
		Labels:   map[string]string{"app.kubernetes.io/name": "myapp"},
		Replicas: 1, Selector: map[string]string{"app.kubernetes.io/name": "myapp"},
		TemplateLabels: map[string]string{"app.kubernetes.io/name": "myapp"},
		Template: cluster.PodSpec{
			InitContainers: []cluster.Container{{
				Name: "logshipper", Image: "alpine:latest", Command: []string{"sh", "-c", "tail -F /opt/logs.txt"},
				VolumeMounts: []cluster.VolumeMount{{Name: "data", MountPath: "/opt"}}, ImagePullPolicy: "Always",
				RestartPolicy: cluster.RestartAlways,
			}},
			Containers: []cluster.Container{{
				Name: "myapp", Image: "alpine:latest",
				Command:      []string{"sh", "-c", `while true; do echo "logging" >> /opt/logs.txt; sleep 1; done`},
				VolumeMounts: []cluster.VolumeMount{{Name: "data", MountPath: "/opt"}}, ImagePullPolicy: "Always",
			}},
			Volumes:                       []cluster.Volume{{Name: "data", EmptyDir: &cluster.EmptyDirSource{}}},
			RestartPolicy:                 cluster.RestartAlways,
			TerminationGracePeriodSeconds: 30,
		},
		Strategy: "RollingUpdate", MaxSurge: "25%", MaxUnavailable: "25%", Generation: 1,
		RevisionHistoryLimit: ptr(int32(cluster.DefaultRevisionHistoryLimit)),
	}
	want.TemplateHash = want.TemplateID()
	if !reflect.DeepEqual(w, want) {
		t.Errorf("workload:\n got %+v\nwant %+v", w, want)
	}
	if o.Source != "testdata/k8s-examples/deployment-sidecar.yaml" || o.Doc != 1 || o.Line != 1 {
		t.Errorf("location: %s doc %d line %d", o.Source, o.Doc, o.Line)
	}
}

func TestExampleStatefulSet(t *testing.T) {
	o := loadOne(t, "web.yaml", KindStatefulSet, "web")
	w := o.Workload
	if o.Doc != 2 || o.Line != 15 {
		t.Errorf("location: doc %d line %d, want doc 2 line 15", o.Doc, o.Line)
	}
	if w.Replicas != 2 || w.ServiceName != "nginx" || w.PodManagementPolicy != "OrderedReady" || w.Strategy != "RollingUpdate" {
		t.Errorf("spec: %+v", w)
	}
	claim := cluster.ClaimSource{ClaimName: "www", Storage: 1 << 30}
	if !reflect.DeepEqual(w.VolumeClaimTemplates, []cluster.ClaimSource{claim}) {
		t.Errorf("claims: %+v", w.VolumeClaimTemplates)
	}
	if !reflect.DeepEqual(w.Template.Volumes, []cluster.Volume{{Name: "www", Claim: &claim}}) {
		t.Errorf("volumes: %+v", w.Template.Volumes)
	}
	c := w.Template.Containers[0]
	if c.ImagePullPolicy != "IfNotPresent" || !reflect.DeepEqual(c.Ports, []cluster.ContainerPort{{Name: "web", ContainerPort: 80, Protocol: "TCP"}}) {
		t.Errorf("container: %+v", c)
	}
	svc := loadOne(t, "web.yaml", KindService, "nginx").Service
	want := &cluster.Service{Namespace: "default", Name: "nginx", Labels: map[string]string{"app": "nginx"},
		Selector: map[string]string{"app": "nginx"}, ClusterIP: "None", Type: "ClusterIP",
		Ports: []cluster.ServicePort{{Name: "web", Protocol: "TCP", Port: 80, TargetPort: 80}}}
	if !reflect.DeepEqual(svc, want) {
		t.Errorf("service:\n got %+v\nwant %+v", svc, want)
	}
}

func TestExampleResources(t *testing.T) {
	// php-apache: limits.cpu 500m, requests.cpu 200m.
	c := loadOne(t, "php-apache.yaml", KindDeployment, "php-apache").Workload.Template.Containers[0]
	if c.Requests != (cluster.Resources{MilliCPU: 200}) || c.Limits != (cluster.Resources{MilliCPU: 500}) {
		t.Errorf("php-apache: requests %v limits %v", c.Requests, c.Limits)
	}
	if c.ImagePullPolicy != "Always" { // registry.k8s.io/hpa-example: no tag
		t.Errorf("pull policy %q", c.ImagePullPolicy)
	}
	// Flow-style JSON-like YAML with comments.
	c = loadOne(t, "guestbook/redis-follower-deployment.yaml", KindDeployment, "redis-follower").Workload.Template.Containers[0]
	if c.Requests != (cluster.Resources{MilliCPU: 100, Memory: 100 << 20}) || !c.Limits.IsZero() {
		t.Errorf("redis-follower: requests %v limits %v", c.Requests, c.Limits)
	}
	f := loadOne(t, "guestbook/frontend-deployment.yaml", KindDeployment, "frontend").Workload
	if f.Replicas != 3 || !reflect.DeepEqual(f.Template.Containers[0].Env, []cluster.EnvVar{{Name: "GET_HOSTS_FROM", Value: "dns"}}) {
		t.Errorf("frontend: %+v", f)
	}
	s := loadOne(t, "guestbook/redis-leader-service.yaml", KindService, "redis-leader").Service
	if !reflect.DeepEqual(s.Ports, []cluster.ServicePort{{Protocol: "TCP", Port: 6379, TargetPort: 6379}}) {
		t.Errorf("redis-leader ports: %+v", s.Ports)
	}
}

// TestExampleZookeeper: zookeeper.yaml's pod securityContext and its
// required anti-affinity on the hostname convert.
func TestExampleZookeeper(t *testing.T) {
	objs, err := Load([]string{"testdata/k8s-examples/zookeeper.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := objs[len(objs)-1].Workload.Template
	if want := (&cluster.PodSecurityContext{RunAsUser: i64(1000), FSGroup: i64(1000)}); !reflect.DeepEqual(tmpl.SecurityContext, want) {
		t.Errorf("securityContext: %s", jsonString(tmpl.SecurityContext))
	}
	want := &cluster.Affinity{PodAntiAffinity: &cluster.PodAffinity{Required: []cluster.PodAffinityTerm{{
		LabelSelector: &cluster.LabelSelector{MatchExpressions: []cluster.LabelSelectorRequirement{{Key: "app", Operator: cluster.OpIn, Values: []string{"zk"}}}},
		TopologyKey:   "kubernetes.io/hostname",
	}}}}
	if !reflect.DeepEqual(tmpl.Affinity, want) {
		t.Errorf("affinity: %s", jsonString(tmpl.Affinity))
	}
}
