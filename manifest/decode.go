package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// kindInfo is how one supported kind is decoded.
type kindInfo struct {
	apiVersion string
	typ        reflect.Type
	shape      *shape
	convert    func(c *conv, v any) *Object
}

var kinds = map[string]kindInfo{
	KindDeployment: {"apps/v1", reflect.TypeFor[appsv1.Deployment](), deploymentShape,
		func(c *conv, v any) *Object { return c.deployment(v.(*appsv1.Deployment)) }},
	KindStatefulSet: {"apps/v1", reflect.TypeFor[appsv1.StatefulSet](), statefulSetShape,
		func(c *conv, v any) *Object { return c.statefulSet(v.(*appsv1.StatefulSet)) }},
	KindDaemonSet: {"apps/v1", reflect.TypeFor[appsv1.DaemonSet](), daemonSetShape,
		func(c *conv, v any) *Object { return c.daemonSet(v.(*appsv1.DaemonSet)) }},
	KindReplicaSet: {"apps/v1", reflect.TypeFor[appsv1.ReplicaSet](), replicaSetShape,
		func(c *conv, v any) *Object { return c.replicaSet(v.(*appsv1.ReplicaSet)) }},
	KindJob: {"batch/v1", reflect.TypeFor[batchv1.Job](), jobShape,
		func(c *conv, v any) *Object { return c.job(v.(*batchv1.Job)) }},
	KindCronJob: {"batch/v1", reflect.TypeFor[batchv1.CronJob](), cronJobShape,
		func(c *conv, v any) *Object { return c.cronJob(v.(*batchv1.CronJob)) }},
	KindPod: {"v1", reflect.TypeFor[corev1.Pod](), podShape,
		func(c *conv, v any) *Object { return c.pod(v.(*corev1.Pod)) }},
	KindService: {"v1", reflect.TypeFor[corev1.Service](), serviceShape,
		func(c *conv, v any) *Object { return c.service(v.(*corev1.Service)) }},
}

func init() {
	for k, v := range objectKinds {
		kinds[k] = v
	}
}

const supportedKinds = "Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod, Service, ConfigMap, Secret, Namespace, ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, PodDisruptionBudget, PersistentVolumeClaim, HorizontalPodAutoscaler, Job, CronJob"

// decode turns one document's JSON into objects: one, or the items of a
// v1 List (what `get -o yaml` prints for several objects, so that it
// applies again).
func (d *document) decode(j []byte) ([]Object, error) {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, d.errorAt("", "invalid document: "+err.Error())
	}
	m, _ := generic.(map[string]any)
	if m == nil || m["kind"] != "List" || m["apiVersion"] != "v1" {
		o, err := d.decodeObject(generic)
		if err != nil {
			return nil, err
		}
		return []Object{*o}, nil
	}
	items, ok := m["items"].([]any)
	if !ok {
		return nil, d.errorAt("items", typeErr("", "a list", m["items"]).msg)
	}
	var objs []Object
	var errs []error
	for i, it := range items {
		line := d.lineOf(index("items", i)) // builds d.lines once, for all items
		sub := *d
		sub.prefix, sub.line = index("items", i), line
		o, err := sub.decodeObject(it)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, *o)
	}
	return objs, errors.Join(errs...)
}

// decodeObject decodes one object (see the package comment for the stages).
func (d *document) decodeObject(generic any) (*Object, error) {
	m, ok := generic.(map[string]any)
	if !ok {
		return nil, d.errorAt("", typeErr("", "an object (a Kubernetes manifest)", generic).msg)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		d.name, _ = md["name"].(string)
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	if kind == "" {
		return nil, d.errorAt("kind", "required (Shoal supports "+supportedKinds+")")
	}
	info, ok := kinds[kind]
	d.kind = kind
	if !ok {
		return nil, d.errorAt("", fmt.Sprintf("unknown kind %q (Shoal supports %s)", kind, supportedKinds))
	}
	if older, ok := olderVersions[apiVersion+" "+kind]; ok {
		info = older
	}
	if apiVersion != info.apiVersion {
		if apiVersion == "" {
			return nil, d.errorAt("apiVersion", fmt.Sprintf("required (%s for %s)", info.apiVersion, kind))
		}
		return nil, d.errorAt("apiVersion", fmt.Sprintf("%q is not supported for %s (Shoal supports %s)", apiVersion, kind, info.apiVersion))
	}
	var shapeErrs []fieldError
	checkShape(generic, info.typ, "", &shapeErrs)
	// Numbers were kept as json.Number, so this re-encoding is exact.
	j, err := json.Marshal(generic)
	if err != nil {
		return nil, d.errorAt("", "invalid "+kind+": "+err.Error())
	}
	v := reflect.New(info.typ)
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		// checkShape should have removed whatever fails here; report it
		// anyway, unlocated, with what was found.
		return nil, errors.Join(d.fieldErrors(shapeErrs), d.errorAt("", "invalid "+kind+": "+err.Error()))
	}
	var fes []fieldError
	unsupported(v, info.shape, "", &fes)
	for i := range fes {
		if h := hintFor(fes[i].path); h != "" {
			fes[i].msg += " (" + h + ")"
		}
	}
	// Conversion reads only supported fields, and what checkShape removed
	// reads as unset: it runs whatever was found so far, so that one pass
	// reports every problem of the document.
	c := &conv{}
	o := info.convert(c, v.Interface())
	all := slices.Concat(shapeErrs, fes, consequences(c.errs, shapeErrs, fes))
	if len(all) > 0 {
		return nil, d.fieldErrors(all)
	}
	o.Source, o.Doc, o.Line, o.Kind = d.source, d.num, d.line, kind
	return o, nil
}

// consequences drops the conversion errors that only follow from problems
// reported already:
//   - within a value checkShape removed: a container list of the wrong
//     type is reported as such, not also as "containers: required";
//   - a misspelt field's own: "Image: unknown field", not also "image:
//     required";
//   - an object whose only child is unsupported: "volumes[0].nfs: not
//     supported", not also "volumes[0]: needs a source".
func consequences(conv, removed, unsupported []fieldError) []fieldError {
	var out []fieldError
	for _, ce := range conv {
		if !slices.ContainsFunc(removed, func(r fieldError) bool { return within(ce.path, r.path) || misspelt(ce.path, r.path) }) &&
			!slices.ContainsFunc(unsupported, func(u fieldError) bool { return parentOf(u.path) == ce.path }) {
			out = append(out, ce)
		}
	}
	return out
}

// within reports whether path p is at or below path q.
func within(p, q string) bool {
	return p == q || strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[")
}

// misspelt reports whether p and q name fields of one object that differ
// only in case.
func misspelt(p, q string) bool {
	return p != q && parentOf(p) == parentOf(q) && strings.EqualFold(lastKey(p), lastKey(q))
}

// parentOf is the path of the object or list holding path p's last
// segment: "a.b" for "a.b.c", "a.b[0]" and "a.b[x.y]".
func parentOf(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:max(strings.LastIndex(p, "["), 0)]
	}
	return p[:max(strings.LastIndex(p, "."), 0)]
}

// lastKey is path p's last key or index, without brackets.
func lastKey(p string) string {
	s := segments(p)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func hintFor(p string) string {
	s := segments(p)
	if len(s) == 0 {
		return ""
	}
	return hints[s[len(s)-1]]
}

// hints follow "not supported by Shoal" for fields users reach for often.
var hints = map[string]string{
	"nodeName":                 "use nodeSelector",
	"matchExpressions":         "use matchLabels",
	"serviceAccountToken":      "Shoal has no API tokens for pods: the Shoal API is not for pods to call",
	"fileKeyRef":               "use configMapKeyRef or secretKeyRef",
	"seLinuxOptions":           "Shoal sets no SELinux labels",
	"seLinuxChangePolicy":      "Shoal sets no SELinux labels",
	"windowsOptions":           "Shoal runs Linux containers only",
	"loadBalancerIP":           "a LoadBalancer is published on every ready node's address",
	"loadBalancerClass":        "Shoal publishes LoadBalancer services itself, on every ready node's address",
	"loadBalancerSourceRanges": "Shoal does not filter a LoadBalancer's clients",
	"externalIPs":              "publish with type NodePort or LoadBalancer",
}

// The fields Shoal supports, per kind. Anything else that is set is
// refused. The ignored ones are written by Kubernetes (and by Shoal's own
// `get -o yaml`), or are harmless to drop:
//   - progressDeadlineSeconds: in Kubernetes it only sets a Progressing
//     condition and never stops a rollout; Shoal reports no such condition,
//     and what runs is the same.
var (
	typeMeta = map[string]*shape{"apiVersion": leaf, "kind": leaf}

	objectMeta = obj(map[string]*shape{
		"name": leaf, "namespace": leaf, "labels": leaf, "annotations": leaf,
		"uid": ignored, "resourceVersion": ignored, "creationTimestamp": ignored,
		"generation": ignored, "managedFields": ignored,
	})

	// A template's name is ignored by Kubernetes too: pods get their own.
	templateMeta = obj(map[string]*shape{"labels": leaf, "annotations": leaf, "creationTimestamp": ignored, "name": ignored})

	execShape      = obj(map[string]*shape{"command": leaf})
	httpGetShape   = obj(map[string]*shape{"path": leaf, "port": leaf, "host": leaf, "scheme": leaf, "httpHeaders": leaf})
	tcpSocketShape = obj(map[string]*shape{"port": leaf, "host": leaf})

	probeShape = obj(map[string]*shape{
		"exec": execShape, "httpGet": httpGetShape, "tcpSocket": tcpSocketShape,
		"grpc":                obj(map[string]*shape{"port": leaf, "service": leaf}),
		"initialDelaySeconds": leaf, "periodSeconds": leaf, "timeoutSeconds": leaf,
		"successThreshold": leaf, "failureThreshold": leaf,
	})

	// Lifecycle hooks; stopSignal stays refused.
	hookShape = obj(map[string]*shape{
		"exec": execShape, "httpGet": httpGetShape, "tcpSocket": tcpSocketShape,
		"sleep": obj(map[string]*shape{"seconds": leaf}),
	})

	// Security contexts. security.go checks the values (hostNetwork:
	// false only; appArmorProfile: RuntimeDefault only) and drops those
	// that only restate what Shoal does (fsGroupChangePolicy,
	// supplementalGroupsPolicy Merge, appArmorProfile RuntimeDefault).
	// seLinuxOptions, windowsOptions and seLinuxChangePolicy stay refused.
	seccompShape  = obj(map[string]*shape{"type": leaf, "localhostProfile": leaf})
	appArmorShape = obj(map[string]*shape{"type": leaf, "localhostProfile": leaf})

	// What pods take from ConfigMaps, Secrets and the downward API
	// (configref.go checks the values).
	keyRefShape      = obj(map[string]*shape{"name": leaf, "key": leaf, "optional": leaf})
	objectRefShape   = obj(map[string]*shape{"name": leaf, "optional": leaf})
	fieldRefShape    = obj(map[string]*shape{"apiVersion": leaf, "fieldPath": leaf})
	resourceRefShape = obj(map[string]*shape{"containerName": leaf, "resource": leaf, "divisor": leaf})
	itemsShape       = obj(map[string]*shape{"key": leaf, "path": leaf, "mode": leaf})
	downwardItems    = obj(map[string]*shape{"path": leaf, "fieldRef": fieldRefShape, "resourceFieldRef": resourceRefShape, "mode": leaf})
	envShape         = obj(map[string]*shape{
		"name": leaf, "value": leaf,
		"valueFrom": obj(map[string]*shape{
			"fieldRef": fieldRefShape, "resourceFieldRef": resourceRefShape,
			"configMapKeyRef": keyRefShape, "secretKeyRef": keyRefShape,
		}),
	})
	envFromShape = obj(map[string]*shape{"prefix": leaf, "configMapRef": objectRefShape, "secretRef": objectRefShape})

	nodeSelectorReqShape  = obj(map[string]*shape{"key": leaf, "operator": leaf, "values": leaf})
	nodeSelectorTermShape = obj(map[string]*shape{"matchExpressions": nodeSelectorReqShape, "matchFields": nodeSelectorReqShape})

	// Inter-pod affinity (podaffinity.go checks the values).
	labelSelectorShape = obj(map[string]*shape{"matchLabels": leaf, "matchExpressions": nodeSelectorReqShape})
	podAffinityTerm    = obj(map[string]*shape{
		"labelSelector": labelSelectorShape, "namespaces": leaf, "namespaceSelector": labelSelectorShape,
		"topologyKey": leaf, "matchLabelKeys": leaf, "mismatchLabelKeys": leaf,
	})
	podAffinityShape = obj(map[string]*shape{
		"requiredDuringSchedulingIgnoredDuringExecution":  podAffinityTerm,
		"preferredDuringSchedulingIgnoredDuringExecution": obj(map[string]*shape{"weight": leaf, "podAffinityTerm": podAffinityTerm}),
	})

	containerShape = obj(map[string]*shape{
		"name": leaf, "image": leaf, "command": leaf, "args": leaf, "workingDir": leaf,
		"env": envShape, "envFrom": envFromShape,
		"ports":         obj(map[string]*shape{"name": leaf, "containerPort": leaf, "hostPort": leaf, "hostIP": leaf, "protocol": leaf}),
		"resources":     obj(map[string]*shape{"requests": leaf, "limits": leaf}),
		"volumeMounts":  obj(map[string]*shape{"name": leaf, "mountPath": leaf, "subPath": leaf, "readOnly": leaf}),
		"livenessProbe": probeShape, "readinessProbe": probeShape, "startupProbe": probeShape,
		"lifecycle":       obj(map[string]*shape{"postStart": hookShape, "preStop": hookShape}),
		"imagePullPolicy": leaf, "restartPolicy": leaf,
		"resizePolicy": obj(map[string]*shape{"resourceName": leaf, "restartPolicy": leaf}),
		"securityContext": obj(map[string]*shape{
			"runAsUser": leaf, "runAsGroup": leaf, "runAsNonRoot": leaf,
			"readOnlyRootFilesystem": leaf, "allowPrivilegeEscalation": leaf, "privileged": leaf,
			"capabilities":   obj(map[string]*shape{"add": leaf, "drop": leaf}),
			"seccompProfile": seccompShape, "appArmorProfile": appArmorShape, "procMount": leaf,
		}),
	})

	podSpecShape = obj(map[string]*shape{
		"containers": containerShape, "initContainers": containerShape,
		"volumes": obj(map[string]*shape{
			"name":     leaf,
			"emptyDir": obj(map[string]*shape{"medium": leaf, "sizeLimit": leaf}),
			"hostPath": obj(map[string]*shape{"path": leaf, "type": leaf}),
			// readOnly is refused: a volumeMount's readOnly does the same.
			"persistentVolumeClaim": obj(map[string]*shape{"claimName": leaf}),
			"configMap":             obj(map[string]*shape{"name": leaf, "items": itemsShape, "defaultMode": leaf, "optional": leaf}),
			"secret":                obj(map[string]*shape{"secretName": leaf, "items": itemsShape, "defaultMode": leaf, "optional": leaf}),
			"downwardAPI":           obj(map[string]*shape{"items": downwardItems, "defaultMode": leaf}),
			"projected": obj(map[string]*shape{
				"defaultMode": leaf,
				"sources": obj(map[string]*shape{
					"configMap":   obj(map[string]*shape{"name": leaf, "items": itemsShape, "optional": leaf}),
					"secret":      obj(map[string]*shape{"name": leaf, "items": itemsShape, "optional": leaf}),
					"downwardAPI": obj(map[string]*shape{"items": downwardItems}),
				}),
			}),
		}),
		"restartPolicy": leaf, "nodeSelector": leaf, "terminationGracePeriodSeconds": leaf,
		"affinity": obj(map[string]*shape{
			"nodeAffinity": obj(map[string]*shape{
				"requiredDuringSchedulingIgnoredDuringExecution":  obj(map[string]*shape{"nodeSelectorTerms": nodeSelectorTermShape}),
				"preferredDuringSchedulingIgnoredDuringExecution": obj(map[string]*shape{"weight": leaf, "preference": nodeSelectorTermShape}),
			}),
			"podAffinity": podAffinityShape, "podAntiAffinity": podAffinityShape,
		}),
		"topologySpreadConstraints": obj(map[string]*shape{
			"maxSkew": leaf, "topologyKey": leaf, "whenUnsatisfiable": leaf, "labelSelector": labelSelectorShape,
			"minDomains": leaf, "nodeAffinityPolicy": leaf, "nodeTaintsPolicy": leaf, "matchLabelKeys": leaf,
		}),
		"tolerations": obj(map[string]*shape{"key": leaf, "operator": leaf, "value": leaf, "effect": leaf, "tolerationSeconds": leaf}),
		"hostname":    leaf, "subdomain": leaf, "shareProcessNamespace": leaf,
		"serviceAccountName": leaf, "serviceAccount": leaf, "automountServiceAccountToken": leaf,
		"enableServiceLinks": leaf, "dnsPolicy": leaf,
		"dnsConfig": obj(map[string]*shape{
			"nameservers": leaf, "searches": leaf,
			"options": obj(map[string]*shape{"name": leaf, "value": leaf}),
		}),
		"hostNetwork": leaf, "hostPID": leaf, "hostIPC": leaf,
		"imagePullSecrets": obj(map[string]*shape{"name": leaf}),
		"securityContext": obj(map[string]*shape{
			"runAsUser": leaf, "runAsGroup": leaf, "runAsNonRoot": leaf,
			"supplementalGroups": leaf, "supplementalGroupsPolicy": leaf,
			"fsGroup": leaf, "fsGroupChangePolicy": leaf,
			"seccompProfile": seccompShape, "appArmorProfile": appArmorShape,
			"sysctls": obj(map[string]*shape{"name": leaf, "value": leaf}),
		}),
	})

	templateShape = obj(map[string]*shape{"metadata": templateMeta, "spec": podSpecShape})
	selectorShape = obj(map[string]*shape{"matchLabels": leaf})

	deploymentShape = top(map[string]*shape{
		"replicas": leaf, "selector": selectorShape, "template": templateShape,
		"strategy": obj(map[string]*shape{
			"type":          leaf,
			"rollingUpdate": obj(map[string]*shape{"maxSurge": leaf, "maxUnavailable": leaf}),
		}),
		"revisionHistoryLimit": leaf, "minReadySeconds": leaf, "progressDeadlineSeconds": ignored,
	})

	statefulSetShape = top(map[string]*shape{
		"replicas": leaf, "selector": selectorShape, "template": templateShape, "serviceName": leaf,
		"volumeClaimTemplates": obj(map[string]*shape{
			"metadata": obj(map[string]*shape{"name": leaf, "labels": leaf, "annotations": leaf, "creationTimestamp": ignored}),
			"spec": obj(map[string]*shape{
				"accessModes": leaf, "storageClassName": leaf, "volumeMode": leaf,
				"resources": obj(map[string]*shape{"requests": leaf}),
			}),
			"status": ignored,
		}),
		"podManagementPolicy":  leaf,
		"updateStrategy":       obj(map[string]*shape{"type": leaf}),
		"revisionHistoryLimit": leaf, "minReadySeconds": leaf,
	})

	daemonSetShape = top(map[string]*shape{
		"selector": selectorShape, "template": templateShape,
		"updateStrategy": obj(map[string]*shape{
			"type":          leaf,
			"rollingUpdate": obj(map[string]*shape{"maxSurge": leaf, "maxUnavailable": leaf}),
		}),
		"revisionHistoryLimit": leaf, "minReadySeconds": leaf,
	})

	replicaSetShape = top(map[string]*shape{"replicas": leaf, "selector": selectorShape, "template": templateShape, "minReadySeconds": leaf})

	podShape = top(podSpecShape.fields)

	serviceShape = top(map[string]*shape{
		"selector": leaf, "clusterIP": leaf, "clusterIPs": leaf, "type": leaf,
		"ports": obj(map[string]*shape{
			"name": leaf, "protocol": leaf, "port": leaf, "targetPort": leaf, "nodePort": leaf, "appProtocol": leaf,
		}),
		"externalTrafficPolicy": leaf, "sessionAffinity": leaf, "allocateLoadBalancerNodePorts": leaf,
		"sessionAffinityConfig":    obj(map[string]*shape{"clientIP": obj(map[string]*shape{"timeoutSeconds": leaf})}),
		"publishNotReadyAddresses": leaf, "ipFamilies": leaf, "ipFamilyPolicy": leaf,
	})
)

// top is a whole object: type meta, metadata, a spec and an ignored status
// (Kubernetes ignores status on create too).
func top(spec map[string]*shape) *shape {
	f := map[string]*shape{"metadata": objectMeta, "spec": obj(spec), "status": ignored}
	for k, v := range typeMeta {
		f[k] = v
	}
	return obj(f)
}
