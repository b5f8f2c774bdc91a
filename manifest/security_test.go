package manifest

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"shoal/cluster"
)

// secPod is a Pod with podFields under its spec and ctrFields in its one
// container, each a line (or lines) of YAML without indentation. The first
// pod field is on line 5; the container's first field comes 4 lines after
// the pod fields (line 8 when there are none, 9 after one line).
func secPod(podFields, ctrFields string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + indent(podFields, "  ") +
		"  containers:\n  - name: c\n    image: busybox\n" + indent(ctrFields, "    ")
}

func indent(lines, by string) string {
	if lines == "" {
		return ""
	}
	return by + strings.ReplaceAll(strings.TrimSuffix(lines, "\n"), "\n", "\n"+by) + "\n"
}

func i64(v int64) *int64 { return &v }

func TestSecurityContextAccepted(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	tests := []struct {
		name                 string
		podFields, ctrFields string
		pod                  *cluster.PodSecurityContext
		ctr                  *cluster.SecurityContext
		hostPID, hostIPC     bool
	}{
		{name: "nothing"},
		{name: "empty contexts are unset", podFields: "securityContext: {}", ctrFields: "securityContext: {capabilities: {add: [], drop: []}}"},
		{name: "every pod field",
			podFields: `securityContext:
  runAsUser: 1000
  runAsGroup: 3000
  runAsNonRoot: true
  supplementalGroups: [4000, 0]
  fsGroup: 2000
  seccompProfile: {type: RuntimeDefault}
  sysctls:
  - {name: net.ipv4.tcp_syncookies, value: "1"}
  - {name: kernel.shm_rmid_forced, value: "1"}
  - {name: net/ipv4/conf/eth0.100/forwarding, value: "0"}
  - {name: fs.mqueue.msg_max, value: "64"}`,
			pod: &cluster.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000), RunAsNonRoot: yes,
				SupplementalGroups: []int64{4000, 0}, FSGroup: i64(2000), SeccompProfile: &cluster.SeccompProfile{Type: "RuntimeDefault"},
				Sysctls: []cluster.Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "kernel.shm_rmid_forced", Value: "1"},
					{Name: "net/ipv4/conf/eth0.100/forwarding", Value: "0"}, {Name: "fs.mqueue.msg_max", Value: "64"}}}},
		{name: "no-ops only: as if absent",
			podFields: "securityContext: {fsGroupChangePolicy: OnRootMismatch, supplementalGroupsPolicy: Merge, appArmorProfile: {type: RuntimeDefault}}",
			ctrFields: "securityContext: {appArmorProfile: {type: RuntimeDefault}}"},
		{name: "fsGroupChangePolicy Always", podFields: "securityContext: {fsGroup: 5, fsGroupChangePolicy: Always}",
			pod: &cluster.PodSecurityContext{FSGroup: i64(5)}},
		{name: "runAsNonRoot false is kept", podFields: "securityContext: {runAsNonRoot: false}",
			pod: &cluster.PodSecurityContext{RunAsNonRoot: no}},
		{name: "user and group 0", podFields: "securityContext: {runAsUser: 0, runAsGroup: 0, fsGroup: 0}",
			pod: &cluster.PodSecurityContext{RunAsUser: i64(0), RunAsGroup: i64(0), FSGroup: i64(0)}},
		{name: "largest ids", podFields: "securityContext: {runAsUser: 2147483647, runAsGroup: 2147483647}",
			pod: &cluster.PodSecurityContext{RunAsUser: i64(1<<31 - 1), RunAsGroup: i64(1<<31 - 1)}},
		{name: "host namespaces", podFields: "hostPID: true\nhostIPC: true\nhostNetwork: false", hostPID: true, hostIPC: true},
		{name: "IPC sysctls with a private IPC namespace", podFields: "hostPID: true\nsecurityContext: {sysctls: [{name: kernel.sem, value: 250 32000 100 128}, {name: kernel.msgmax, value: '65536'}]}",
			hostPID: true, pod: &cluster.PodSecurityContext{Sysctls: []cluster.Sysctl{{Name: "kernel.sem", Value: "250 32000 100 128"}, {Name: "kernel.msgmax", Value: "65536"}}}},
		{name: "net sysctls with hostIPC", podFields: "hostIPC: true\nsecurityContext: {sysctls: [{name: net.core.somaxconn, value: '1024'}]}",
			hostIPC: true, pod: &cluster.PodSecurityContext{Sysctls: []cluster.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}},
		{name: "every container field",
			ctrFields: `securityContext:
  runAsUser: 1000
  runAsGroup: 1000
  runAsNonRoot: true
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  privileged: false
  capabilities: {add: [NET_BIND_SERVICE, CAP_SYS_TIME, CAP_AUDIT_WRITE], drop: [ALL]}
  seccompProfile: {type: Localhost, localhostProfile: profiles/audit.json}
  procMount: Default
  appArmorProfile: {type: RuntimeDefault}`,
			ctr: &cluster.SecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(1000), RunAsNonRoot: yes,
				ReadOnlyRootFilesystem: yes, AllowPrivilegeEscalation: no, Privileged: no,
				Capabilities:   &cluster.Capabilities{Add: []string{"NET_BIND_SERVICE", "SYS_TIME", "AUDIT_WRITE"}, Drop: []string{"ALL"}},
				SeccompProfile: &cluster.SeccompProfile{Type: "Localhost", LocalhostProfile: "profiles/audit.json"}, ProcMount: "Default"}},
		{name: "privileged, unmasked, unconfined",
			ctrFields: "securityContext: {privileged: true, allowPrivilegeEscalation: true, procMount: Unmasked, seccompProfile: {type: Unconfined}, capabilities: {add: [CAP_ALL, SYS_ADMIN]}}",
			ctr: &cluster.SecurityContext{Privileged: yes, AllowPrivilegeEscalation: yes, ProcMount: "Unmasked",
				SeccompProfile: &cluster.SeccompProfile{Type: "Unconfined"}, Capabilities: &cluster.Capabilities{Add: []string{"ALL", "SYS_ADMIN"}}}},
		{name: "the container overrides the pod",
			podFields: "securityContext: {runAsUser: 0, runAsNonRoot: false}",
			ctrFields: "securityContext: {runAsUser: 1000, runAsNonRoot: true}",
			pod:       &cluster.PodSecurityContext{RunAsUser: i64(0), RunAsNonRoot: no},
			ctr:       &cluster.SecurityContext{RunAsUser: i64(1000), RunAsNonRoot: yes}},
		{name: "root without runAsNonRoot", podFields: "securityContext: {runAsNonRoot: true}", ctrFields: "securityContext: {runAsUser: 0, runAsNonRoot: false}",
			pod: &cluster.PodSecurityContext{RunAsNonRoot: yes}, ctr: &cluster.SecurityContext{RunAsUser: i64(0), RunAsNonRoot: no}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodeOne(t, secPod(tt.podFields, tt.ctrFields)).Pod
			if s := p.Spec; !reflect.DeepEqual(s.SecurityContext, tt.pod) || !reflect.DeepEqual(s.Containers[0].SecurityContext, tt.ctr) ||
				s.HostPID != tt.hostPID || s.HostIPC != tt.hostIPC || s.HostNetwork {
				t.Errorf("got pod %s, container %s, hostPID %v, hostIPC %v, hostNetwork %v\nwant pod %s, container %s, hostPID %v, hostIPC %v",
					jsonString(s.SecurityContext), jsonString(s.Containers[0].SecurityContext), s.HostPID, s.HostIPC, s.HostNetwork,
					jsonString(tt.pod), jsonString(tt.ctr), tt.hostPID, tt.hostIPC)
			}
		})
	}
}

func jsonString(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}

func TestSecurityContextRefused(t *testing.T) {
	const at5, at8, at9 = `p.yaml: document 1 (Pod "p", line 5): `, `p.yaml: document 1 (Pod "p", line 8): `, `p.yaml: document 1 (Pod "p", line 9): `
	tests := []struct {
		name                 string
		podFields, ctrFields string
		want                 string
	}{
		// Fields Shoal refuses whatever their value.
		{"hostNetwork", "hostNetwork: true", "",
			at5 + "spec.hostNetwork: not supported yet: pods use the cluster network; publish ports with hostPort"},
		{"pod seLinuxOptions", `securityContext: {runAsUser: 1, seLinuxOptions: {level: "s0:c123,c456"}}`, "",
			at5 + "spec.securityContext.seLinuxOptions: not supported by Shoal (Shoal sets no SELinux labels)"},
		{"container seLinuxOptions", "", "securityContext: {seLinuxOptions: {type: spc_t}}",
			at8 + "spec.containers[0].securityContext.seLinuxOptions: not supported by Shoal (Shoal sets no SELinux labels)"},
		{"pod windowsOptions", "securityContext: {windowsOptions: {runAsUserName: ContainerUser}}", "",
			at5 + "spec.securityContext.windowsOptions: not supported by Shoal (Shoal runs Linux containers only)"},
		{"container windowsOptions", "", "securityContext: {windowsOptions: {hostProcess: false}}",
			at8 + "spec.containers[0].securityContext.windowsOptions: not supported by Shoal (Shoal runs Linux containers only)"},
		{"seLinuxChangePolicy", "securityContext: {seLinuxChangePolicy: MountOption}", "",
			at5 + "spec.securityContext.seLinuxChangePolicy: not supported by Shoal (Shoal sets no SELinux labels)"},
		{"every refused field at once", "hostNetwork: false\nsecurityContext: {seLinuxOptions: {user: u}}", "securityContext: {windowsOptions: {gmsaCredentialSpecName: x}}",
			`p.yaml: document 1 (Pod "p", line 6): spec.securityContext.seLinuxOptions: not supported by Shoal (Shoal sets no SELinux labels)` + "\n" +
				`p.yaml: document 1 (Pod "p", line 10): spec.containers[0].securityContext.windowsOptions: not supported by Shoal (Shoal runs Linux containers only)`},

		// Values Shoal does not support.
		{"pod appArmorProfile Unconfined", "securityContext: {appArmorProfile: {type: Unconfined}}", "",
			at5 + `spec.securityContext.appArmorProfile.type: "Unconfined" is not supported by Shoal (only RuntimeDefault, the default)`},
		{"container appArmorProfile Localhost", "", "securityContext: {appArmorProfile: {type: Localhost, localhostProfile: k8s-deny-write}}",
			at8 + `spec.containers[0].securityContext.appArmorProfile.type: "Localhost" is not supported by Shoal (only RuntimeDefault, the default)`},
		{"appArmorProfile without a type", "securityContext: {appArmorProfile: {}}", "",
			at5 + `spec.securityContext.appArmorProfile.type: required (Shoal supports RuntimeDefault only)`},
		{"appArmorProfile RuntimeDefault with a profile", "", "securityContext: {appArmorProfile: {type: RuntimeDefault, localhostProfile: x}}",
			at8 + `spec.containers[0].securityContext.appArmorProfile.localhostProfile: may only be set when type is Localhost`},
		{"supplementalGroupsPolicy Strict", "securityContext: {supplementalGroupsPolicy: Strict}", "",
			at5 + `spec.securityContext.supplementalGroupsPolicy: "Strict" is not supported by Shoal (only Merge: the groups of the image's /etc/group are kept)`},
		{"fsGroupChangePolicy", "securityContext: {fsGroupChangePolicy: Never}", "",
			at5 + `spec.securityContext.fsGroupChangePolicy: "Never" is not valid (Always or OnRootMismatch)`},

		// Values Kubernetes refuses too.
		{"negative runAsUser", "securityContext: {runAsUser: -1}", "",
			at5 + "spec.securityContext.runAsUser: -1 is invalid: must be between 0 and 2147483647, inclusive"},
		{"runAsGroup too large", "", "securityContext: {runAsGroup: 2147483648}",
			at8 + "spec.containers[0].securityContext.runAsGroup: 2147483648 is invalid: must be between 0 and 2147483647, inclusive"},
		{"negative fsGroup", "securityContext: {fsGroup: -2}", "",
			at5 + "spec.securityContext.fsGroup: -2 is invalid: must be between 0 and 2147483647, inclusive"},
		{"negative supplemental group", "securityContext:\n  supplementalGroups:\n  - 10\n  - -1", "",
			`p.yaml: document 1 (Pod "p", line 8): spec.securityContext.supplementalGroups[1]: -1 is invalid: must be between 0 and 2147483647, inclusive`},
		{"container negative runAsUser", "", "securityContext: {runAsUser: -5}",
			at8 + "spec.containers[0].securityContext.runAsUser: -5 is invalid: must be between 0 and 2147483647, inclusive"},
		{"seccomp type", "securityContext: {seccompProfile: {type: Default}}", "",
			at5 + `spec.securityContext.seccompProfile.type: "Default" is not valid (RuntimeDefault, Unconfined or Localhost)`},
		{"seccomp without a type", "", "securityContext: {seccompProfile: {}}",
			at8 + `spec.containers[0].securityContext.seccompProfile.type: required (RuntimeDefault, Unconfined or Localhost)`},
		{"Localhost without a profile", "", "securityContext: {seccompProfile: {type: Localhost}}",
			at8 + `spec.containers[0].securityContext.seccompProfile.localhostProfile: required when type is Localhost (a file under the node's seccomp profile directory)`},
		{"Localhost with an absolute path", "securityContext: {seccompProfile: {type: Localhost, localhostProfile: /etc/passwd}}", "",
			at5 + `spec.securityContext.seccompProfile.localhostProfile: "/etc/passwd" must be a relative path without '..'`},
		{"Localhost with ..", "securityContext: {seccompProfile: {type: Localhost, localhostProfile: profiles/../../x.json}}", "",
			at5 + `spec.securityContext.seccompProfile.localhostProfile: "profiles/../../x.json" must be a relative path without '..'`},
		{"localhostProfile without Localhost", "", "securityContext: {seccompProfile: {type: RuntimeDefault, localhostProfile: a.json}}",
			at8 + `spec.containers[0].securityContext.seccompProfile.localhostProfile: may only be set when type is Localhost`},
		{"procMount", "", "securityContext: {procMount: Masked}",
			at8 + `spec.containers[0].securityContext.procMount: "Masked" is not valid (Default or Unmasked)`},
		{"capability names", "", "securityContext:\n  capabilities:\n    add: [NET_ADMIN, net_raw, CAP_]\n    drop: [all, net-raw]",
			`p.yaml: document 1 (Pod "p", line 10): spec.containers[0].securityContext.capabilities.add[2]: "CAP_" is not a capability name (letters, digits and '_': NET_ADMIN, CAP_NET_ADMIN or ALL)` + "\n" +
				`p.yaml: document 1 (Pod "p", line 11): spec.containers[0].securityContext.capabilities.drop[1]: "net-raw" is not a capability name (letters, digits and '_': NET_ADMIN, CAP_NET_ADMIN or ALL)`},
		{"privileged without escalation", "", "securityContext: {privileged: true, allowPrivilegeEscalation: false}",
			at8 + "spec.containers[0].securityContext.allowPrivilegeEscalation: may not be false when privileged is true"},
		{"SYS_ADMIN without escalation", "", "securityContext: {capabilities: {add: [CAP_SYS_ADMIN]}, allowPrivilegeEscalation: false}",
			at8 + "spec.containers[0].securityContext.allowPrivilegeEscalation: may not be false when capabilities.add has SYS_ADMIN"},
		{"sysctl names", "securityContext:\n  sysctls:\n  - {name: net..ipv4, value: '1'}\n  - {name: '', value: '1'}\n  - {name: net.ipv4.ip_forward!, value: '1'}", "",
			`p.yaml: document 1 (Pod "p", line 7): spec.securityContext.sysctls[0].name: "net..ipv4" is not a sysctl name (like net.ipv4.tcp_syncookies: letters, digits, '_' and '-' separated by '.' or '/')` + "\n" +
				`p.yaml: document 1 (Pod "p", line 8): spec.securityContext.sysctls[1].name: required` + "\n" +
				`p.yaml: document 1 (Pod "p", line 9): spec.securityContext.sysctls[2].name: "net.ipv4.ip_forward!" is not a sysctl name (like net.ipv4.tcp_syncookies: letters, digits, '_' and '-' separated by '.' or '/')`},
		{"sysctl twice", "securityContext:\n  sysctls:\n  - {name: net.core.somaxconn, value: '1'}\n  - {name: net.core.somaxconn, value: '2'}", "",
			`p.yaml: document 1 (Pod "p", line 8): spec.securityContext.sysctls[1].name: "net.core.somaxconn" is set twice`},
		{"node-wide sysctl", "securityContext: {sysctls: [{name: vm.max_map_count, value: '262144'}]}", "",
			at5 + `spec.securityContext.sysctls[0].name: "vm.max_map_count" is not a namespaced sysctl, so it would change the whole node (only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)`},
		{"IPC sysctl with hostIPC", "hostIPC: true\nsecurityContext: {sysctls: [{name: kernel/shmmax, value: '1'}]}", "",
			`p.yaml: document 1 (Pod "p", line 6): spec.securityContext.sysctls[0].name: "kernel/shmmax" may not be set with hostIPC: the pod shares the node's IPC namespace`},

		// Root with runAsNonRoot: the kubelet would never start the container.
		{"root and runAsNonRoot in the pod", "securityContext: {runAsUser: 0, runAsNonRoot: true}", "",
			at5 + "spec.securityContext.runAsUser: 0 (root) contradicts runAsNonRoot: the containers would never start"},
		{"root in the container", "securityContext: {runAsNonRoot: true}", "securityContext: {runAsUser: 0}",
			at9 + "spec.containers[0].securityContext.runAsUser: 0 (root) contradicts runAsNonRoot: the container would never start"},
		{"runAsNonRoot in the container", "securityContext: {runAsUser: 0}", "securityContext: {runAsNonRoot: true}",
			at9 + "spec.containers[0].securityContext.runAsNonRoot: true contradicts runAsUser 0 (root) from spec.securityContext: the container would never start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(secPod(tt.podFields, tt.ctrFields)), "p.yaml")
			if err == nil || objs != nil {
				t.Fatalf("Decode gave %d objects, error %v; want\n%s", len(objs), err, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAppArmorAnnotation(t *testing.T) {
	pod := func(value string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n" +
			"    container.apparmor.security.beta.kubernetes.io/c: " + value + "\n" +
			"spec:\n  containers: [{name: c, image: busybox}]\n"
	}
	if p := decodeOne(t, pod("runtime/default")).Pod; p.Annotations["container.apparmor.security.beta.kubernetes.io/c"] != "runtime/default" {
		t.Errorf("annotations: %v", p.Annotations)
	}
	for _, v := range []string{"localhost/k8s-apparmor-example-deny-write", "unconfined"} {
		_, err := Decode([]byte(pod(v)), "p.yaml")
		want := `p.yaml: document 1 (Pod "p", line 6): metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: "` + v +
			`" is not supported by Shoal (only runtime/default, the default)`
		if err == nil || err.Error() != want {
			t.Errorf("error:\n got %v\nwant %s", err, want)
		}
	}
}

// TestSecurityContextInTemplates: the same conversion in workload
// templates, init containers included, with the template's paths in errors;
// the settings are part of the template hash, so changing them rolls out.
func TestSecurityContextInTemplates(t *testing.T) {
	in := replaceOnce(t, deploy, "    spec:\n", "    spec:\n      hostPID: true\n      securityContext: {runAsNonRoot: true, runAsUser: 1000}\n"+
		"      initContainers:\n      - name: init\n        image: busybox\n        securityContext: {capabilities: {drop: [ALL]}}\n")
	in = replaceOnce(t, in, "        image: nginx:1.25\n", "        image: nginx:1.25\n        securityContext: {readOnlyRootFilesystem: true}\n")
	w := decodeOne(t, in).Workload
	s := w.Template
	if !s.HostPID || !reflect.DeepEqual(s.SecurityContext, &cluster.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: i64(1000)}) ||
		!reflect.DeepEqual(s.InitContainers[0].SecurityContext, &cluster.SecurityContext{Capabilities: &cluster.Capabilities{Drop: []string{"ALL"}}}) ||
		!reflect.DeepEqual(s.Containers[0].SecurityContext, &cluster.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}) {
		t.Errorf("template: %s", jsonString(s))
	}
	if w.TemplateHash == decodeOne(t, deploy).Workload.TemplateHash {
		t.Error("security settings do not change the template hash")
	}

	tests := []struct{ name, old, new, want string }{
		{"hostNetwork", "    spec:\n", "    spec:\n      hostNetwork: true\n",
			`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.hostNetwork: not supported yet: pods use the cluster network; publish ports with hostPort`},
		{"init container", "    spec:\n", "    spec:\n      initContainers: [{name: i, image: busybox, securityContext: {capabilities: {drop: [Ch-own]}}}]\n",
			`web.yaml: document 1 (Deployment "web", line 15): spec.template.spec.initContainers[0].securityContext.capabilities.drop[0]: "Ch-own" is not a capability name (letters, digits and '_': NET_ADMIN, CAP_NET_ADMIN or ALL)`},
		{"container seLinuxOptions", "        image: nginx:1.25\n", "        image: nginx:1.25\n        securityContext:\n          seLinuxOptions: {level: s0}\n",
			`web.yaml: document 1 (Deployment "web", line 19): spec.template.spec.containers[0].securityContext.seLinuxOptions: not supported by Shoal (Shoal sets no SELinux labels)`},
		{"pod appArmorProfile", "    spec:\n", "    spec:\n      securityContext:\n        runAsUser: 1\n        appArmorProfile:\n          type: Unconfined\n",
			`web.yaml: document 1 (Deployment "web", line 18): spec.template.spec.securityContext.appArmorProfile.type: "Unconfined" is not supported by Shoal (only RuntimeDefault, the default)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(replaceOnce(t, deploy, tt.old, tt.new)), "web.yaml")
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestSecurityExamples: manifests shaped like the hardened ones real
// projects publish (testdata/security) decode, with every setting kept.
func TestSecurityExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/security/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	objs, err := Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Object{}
	for _, o := range objs {
		byName[o.Kind+"/"+o.Name] = o
	}
	if len(byName) != 5 {
		t.Errorf("objects: %v", byName)
	}

	api := byName["Deployment/api"].Workload.Template
	if want := (&cluster.PodSecurityContext{RunAsNonRoot: ptr(true), RunAsUser: i64(10001), RunAsGroup: i64(10001), FSGroup: i64(10001),
		SeccompProfile: &cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault}}); !reflect.DeepEqual(api.SecurityContext, want) {
		t.Errorf("api pod: %s", jsonString(api.SecurityContext))
	}
	if e := api.Effective(&api.Containers[0]); *e.RunAsUser != 10001 || *e.ReadOnlyRootFilesystem != true || *e.AllowPrivilegeEscalation ||
		!reflect.DeepEqual(e.Capabilities, &cluster.Capabilities{Add: []string{"NET_BIND_SERVICE"}, Drop: []string{"ALL"}}) ||
		e.SeccompProfile.Type != cluster.SeccompRuntimeDefault {
		t.Errorf("api container: %s", jsonString(e))
	}
	if c := api.InitContainers[0].SecurityContext; c == nil || !reflect.DeepEqual(c.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("api init container: %s", jsonString(c))
	}

	pg := byName["StatefulSet/pg"].Workload.Template
	if sc := pg.SecurityContext; sc == nil || *sc.FSGroup != 999 || !reflect.DeepEqual(sc.SupplementalGroups, []int64{4000, 4001}) || len(sc.Sysctls) != 3 ||
		sc.Sysctls[2] != (cluster.Sysctl{Name: "kernel.shm_rmid_forced", Value: "1"}) {
		t.Errorf("pg pod: %s", jsonString(sc))
	}
	if c := pg.Containers[0].SecurityContext; !reflect.DeepEqual(c.Capabilities, &cluster.Capabilities{Drop: []string{"ALL"}}) {
		t.Errorf("pg container: %s", jsonString(c))
	}

	dbg := byName["Pod/node-debugger"].Pod.Spec
	if c := dbg.Containers[0].SecurityContext; !dbg.HostPID || !dbg.HostIPC || dbg.HostNetwork || dbg.SecurityContext != nil ||
		!*c.Privileged || *c.RunAsUser != 0 || c.ProcMount != "Default" || c.SeccompProfile.Type != cluster.SeccompUnconfined ||
		!reflect.DeepEqual(c.Capabilities.Add, []string{"SYS_PTRACE", "SYS_ADMIN"}) {
		t.Errorf("node-debugger: %s", jsonString(dbg))
	}

	audit := byName["Pod/syscall-audit"].Pod.Spec
	echo, sidecar := audit.Effective(&audit.Containers[0]), audit.Effective(&audit.Containers[1])
	if *echo.SeccompProfile != (cluster.SeccompProfile{Type: cluster.SeccompLocalhost, LocalhostProfile: "profiles/audit.json"}) ||
		*sidecar.SeccompProfile != (cluster.SeccompProfile{Type: cluster.SeccompRuntimeDefault}) || *sidecar.RunAsUser != 65534 {
		t.Errorf("syscall-audit: %s\n%s", jsonString(echo), jsonString(sidecar))
	}
}

// TestSecurityToK8s: `get -o yaml` writes the settings where Kubernetes
// has them.
func TestSecurityToK8s(t *testing.T) {
	o := decodeOne(t, secPod("hostPID: true\nhostIPC: true\nsecurityContext: {runAsUser: 7, fsGroup: 8, supplementalGroups: [9], sysctls: [{name: net.core.somaxconn, value: '1024'}], seccompProfile: {type: Localhost, localhostProfile: a.json}}",
		"securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true, privileged: false, procMount: Unmasked, capabilities: {add: [CAP_NET_ADMIN], drop: [ALL]}}"))
	m := jsonOf(t, PodToK8s(o.Pod))
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"spec", "hostPID"}, true}, {[]any{"spec", "hostIPC"}, true}, {[]any{"spec", "hostNetwork"}, nil},
		{[]any{"spec", "securityContext", "runAsUser"}, 7.0}, {[]any{"spec", "securityContext", "fsGroup"}, 8.0},
		{[]any{"spec", "securityContext", "supplementalGroups", 0}, 9.0},
		{[]any{"spec", "securityContext", "sysctls", 0, "value"}, "1024"},
		{[]any{"spec", "securityContext", "seccompProfile", "localhostProfile"}, "a.json"},
		{[]any{"spec", "containers", 0, "securityContext", "runAsNonRoot"}, true},
		{[]any{"spec", "containers", 0, "securityContext", "privileged"}, false},
		{[]any{"spec", "containers", 0, "securityContext", "procMount"}, "Unmasked"},
		{[]any{"spec", "containers", 0, "securityContext", "capabilities", "add", 0}, "NET_ADMIN"},
		{[]any{"spec", "containers", 0, "securityContext", "capabilities", "drop", 0}, "ALL"},
		{[]any{"spec", "containers", 0, "securityContext", "seccompProfile"}, nil},
	} {
		if got := at(m, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
	// Nothing set, nothing written.
	m = jsonOf(t, PodToK8s(decodeOne(t, secPod("", "")).Pod))
	if at(m, "spec", "securityContext") != nil || at(m, "spec", "hostPID") != nil || at(m, "spec", "containers", 0, "securityContext") != nil {
		t.Errorf("empty pod: %v", m["spec"])
	}
}
