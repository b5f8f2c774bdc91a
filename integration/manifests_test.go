package integration

import "fmt"

// dbStatefulSetYAML is the StatefulSet `db` the tests use: replicas of one
// idle container (IMAGE), plus container lines (indented for a container
// field) and spec lines (indented for a StatefulSet spec field).
func dbStatefulSetYAML(replicas int, container, spec string) string {
	return fmt.Sprintf(`
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: %d
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: db
          image: IMAGE
          command: ["sh", "-c", "%s"]
%s%s`, replicas, idle, container, spec)
}

// dbWithData is dbStatefulSetYAML whose pods each mount a claim volume
// `data` of the given size at /data.
func dbWithData(replicas int, size string) string {
	return dbStatefulSetYAML(replicas, `          volumeMounts:
            - {name: data, mountPath: /data}
`, `  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests: {storage: `+size+`}
`)
}
