package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"shoal/chaos"
	"shoal/internal/poll"
)

// The fault suite's workloads and clients: a Deployment whose replicas a
// client scales (a register), ConfigMaps whose counter and annotation
// clients write (registers), ConfigMaps created one per write (for the
// lost-write check), and a StatefulSet whose pods append heartbeats to a
// host directory, from which the suite sees every copy of each ordinal
// that ever ran.

// chaosOpTimeout bounds one client operation: past it the op's outcome
// is unknown.
const chaosOpTimeout = 10 * time.Second

const chaosWeb = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: IMAGE
        command: ["sh", "-c", "` + idle + `"]
        resources: {requests: {cpu: 10m, memory: 8Mi}}
`

// chaosDB's pods write "uptime" lines every 0.3 s to
// HB/<pod>_<node>_<incarnation>, the incarnation drawn at start.
const chaosDB = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      terminationGracePeriodSeconds: 1
      volumes: [{name: hb, hostPath: {path: HB, type: Directory}}]
      containers:
      - name: db
        image: IMAGE
        env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        volumeMounts: [{name: hb, mountPath: /hb}]
        resources: {requests: {cpu: 10m, memory: 8Mi}}
        command: ["sh", "-c", "inc=$(cat /proc/sys/kernel/random/uuid); f=/hb/$(hostname)_${NODE}_$inc; trap 'exit 0' TERM; while true; do read up _ </proc/uptime; echo $up >>$f; sleep 0.3 & wait $!; done"]
`

const dbReplicas = 2

// chaosWorkloads are the suite's objects on cluster c.
type chaosWorkloads struct {
	c  *Cluster
	hb string
	// web is the Deployment's replicas as last read (the desired count).
	web int
}

// chaosHeartbeatDir is the host directory the StatefulSet's pods write
// their heartbeats to (removed at the end of the test).
func chaosHeartbeatDir(t *testing.T) string {
	return t.TempDir()
}

func newChaosWorkloads(t *testing.T, c *Cluster, hb string) *chaosWorkloads {
	t.Helper()
	a := c.Any()
	a.Shoal(t, "policy", "set", "--allow-host-path", hb)
	a.Apply(t, manifest(chaosWeb, c.Image))
	a.Apply(t, strings.ReplaceAll(manifest(chaosDB, c.Image), "HB", hb))
	a.WaitPods(t, 2, Labeled("app", "web"))
	a.WaitPods(t, dbReplicas, Labeled("app", "db"))
	return &chaosWorkloads{c: c, hb: hb, web: 2}
}

// roundKeys are the registers of one round: fresh ConfigMaps (Absent at
// first) and the Deployment's replicas (written first thing).
type roundKeys struct {
	regs  []string
	scale string
	seed  int64
}

const finalClient = 100

func (w *chaosWorkloads) startRound(t *testing.T, rec *chaos.Recorder, seed int64) roundKeys {
	t.Helper()
	k := roundKeys{regs: []string{fmt.Sprintf("reg-%d-a", seed), fmt.Sprintf("reg-%d-b", seed)}, scale: "deployment/web", seed: seed}
	poll.Until(t, ClusterTimeout, "the round's first write", func() (bool, string) {
		o := w.scale(w.c.Any(), rec, finalClient, k, 2)
		return o.Status == chaos.OK, o.Detail
	})
	return k
}

// cli runs the CLI against agent a, bounded by chaosOpTimeout: timedOut
// when it was killed for taking longer.
func cli(a *Agent, stdin []byte, args ...string) (stdout, stderr string, code int, timedOut bool) {
	ctx, cancel := context.WithTimeout(context.Background(), chaosOpTimeout)
	defer cancel()
	// The CLI gives up a little before it would be killed, and a write of
	// it that reaches an agent later (held up on a connection across a
	// partition) is refused there: an op the history calls unknown cannot
	// land after the final reads.
	argv := append(a.cliFlags(a.API), "--request-timeout", (chaosOpTimeout - time.Second).String())
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, Binary(a.t), argv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
	}
	return out.String(), strings.TrimSpace(errb.String()), code, ctx.Err() != nil
}

// record runs one op through fn and records it: fn returns the value (for
// reads) and the outcome.
func record(rec *chaos.Recorder, o chaos.Op, fn func() (string, chaos.Status, string)) chaos.Op {
	o.Call = rec.Since(time.Now())
	v, st, detail := fn()
	o.Return = rec.Since(time.Now())
	if o.Kind == chaos.Read {
		o.Value = v
	}
	o.Status, o.Detail = st, detail
	rec.Add(o)
	return o
}

// writeOutcome: acknowledged on exit 0; failed when no connection to an
// agent that could apply it was ever made (the CLI's to the agent, or
// that agent's to the leader it forwards to: "dial tcp"); otherwise
// unknown, since a write whose answer was lost, or that failed after it
// was proposed, may still be applied (consensus.ErrOutcomeUnknown says
// so). "not the raft leader" stays unknown as well: an agent that
// forwarded the write may have lost the leader's answer. A write refused
// for reaching an agent after its deadline failed: it is refused before
// anything is proposed.
func writeOutcome(stderr string, code int, timedOut bool) (string, chaos.Status, string) {
	switch {
	case code == 0:
		return "", chaos.OK, ""
	case timedOut:
		return "", chaos.Unknown, "timed out"
	case strings.Contains(stderr, ": dial tcp "), strings.Contains(stderr, "after its deadline"):
		return "", chaos.Fail, stderr
	}
	return "", chaos.Unknown, stderr
}

func configMap(name, value string) []byte {
	return fmt.Appendf(nil, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  annotations: {chaos.shoal.dev/v: %q}\ndata: {v: %q}\n", name, value, value)
}

func (w *chaosWorkloads) writeReg(a *Agent, rec *chaos.Recorder, client int, key, value string) chaos.Op {
	return record(rec, chaos.Op{Client: client, Kind: chaos.Write, Key: key, Value: value}, func() (string, chaos.Status, string) {
		_, errs, code, to := cli(a, configMap(key, value), "apply", "-f", "-")
		return writeOutcome(errs, code, to)
	})
}

func (w *chaosWorkloads) create(a *Agent, rec *chaos.Recorder, client int, name string) chaos.Op {
	return record(rec, chaos.Op{Client: client, Kind: chaos.Create, Key: name, Value: "1"}, func() (string, chaos.Status, string) {
		_, errs, code, to := cli(a, configMap(name, "1"), "apply", "-f", "-")
		return writeOutcome(errs, code, to)
	})
}

func (w *chaosWorkloads) scale(a *Agent, rec *chaos.Recorder, client int, k roundKeys, n int) chaos.Op {
	return record(rec, chaos.Op{Client: client, Kind: chaos.Write, Key: k.scale, Value: strconv.Itoa(n)}, func() (string, chaos.Status, string) {
		_, errs, code, to := cli(a, nil, "scale", k.scale, "--replicas", strconv.Itoa(n))
		return writeOutcome(errs, code, to)
	})
}

// readReg reads a register ConfigMap through the leader: Absent when it
// is not found; its counter and annotation, written together, must agree.
func (w *chaosWorkloads) readReg(a *Agent, rec *chaos.Recorder, client int, key string) chaos.Op {
	return record(rec, chaos.Op{Client: client, Kind: chaos.Read, Key: key}, func() (string, chaos.Status, string) {
		out, errs, code, to := cli(a, nil, "get", "configmap", key, "--consistent", "-o", "json")
		switch {
		case code == 0:
		case !to && strings.Contains(errs, fmt.Sprintf("configmap %q not found", key)):
			return chaos.Absent, chaos.OK, ""
		default:
			return "", chaos.Unknown, errs
		}
		var cm corev1.ConfigMap
		if err := json.Unmarshal([]byte(out), &cm); err != nil {
			return "", chaos.Unknown, fmt.Sprintf("get configmap %s -o json: %v", key, err)
		}
		if v, ann := cm.Data["v"], cm.Annotations["chaos.shoal.dev/v"]; v != ann {
			return fmt.Sprintf("torn: data %q, annotation %q", v, ann), chaos.OK, ""
		}
		return cm.Data["v"], chaos.OK, ""
	})
}

// readScale reads the Deployment's desired replicas through the leader.
func (w *chaosWorkloads) readScale(a *Agent, rec *chaos.Recorder, client int, k roundKeys) chaos.Op {
	return record(rec, chaos.Op{Client: client, Kind: chaos.Read, Key: k.scale}, func() (string, chaos.Status, string) {
		out, errs, code, _ := cli(a, nil, "get", "deployment", "web", "--consistent", "-o", "json")
		if code != 0 {
			return "", chaos.Unknown, errs
		}
		var d struct {
			Spec struct{ Replicas *int }
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil || d.Spec.Replicas == nil {
			return "", chaos.Unknown, fmt.Sprintf("get deployment web -o json: %v: %.200s", err, out)
		}
		return strconv.Itoa(*d.Spec.Replicas), chaos.OK, ""
	})
}

// startClients runs the round's clients until ctx is done: two register
// writers, a scaler, a creator and two readers, each op through an agent
// drawn at random (any of them: a killed or cut one fails or times out,
// which the history records). done closes when all have stopped.
func (w *chaosWorkloads) startClients(ctx context.Context, rec *chaos.Recorder, k roundKeys, seed int64) <-chan struct{} {
	var wg sync.WaitGroup
	run := func(client int, op func(r *rand.Rand, a *Agent, n int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed*31 + int64(client)))
			for n := 0; ctx.Err() == nil; n++ {
				op(r, w.c.Agents[r.Intn(len(w.c.Agents))], n)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(150+r.Intn(200)) * time.Millisecond):
				}
			}
		}()
	}
	for c := range 2 {
		run(c, func(r *rand.Rand, a *Agent, n int) {
			w.writeReg(a, rec, c, k.regs[r.Intn(len(k.regs))], fmt.Sprintf("%d-%d", c, n))
		})
	}
	run(2, func(r *rand.Rand, a *Agent, _ int) { w.scale(a, rec, 2, k, 1+r.Intn(3)) })
	run(3, func(_ *rand.Rand, a *Agent, n int) { w.create(a, rec, 3, fmt.Sprintf("ack-%d-%d", k.seed, n)) })
	for c := 4; c < 6; c++ {
		run(c, func(r *rand.Rand, a *Agent, _ int) {
			if i := r.Intn(len(k.regs) + 1); i < len(k.regs) {
				w.readReg(a, rec, c, k.regs[i])
			} else {
				w.readScale(a, rec, c, k)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// finalReads reads every register once more, through the leader, after
// the faults are healed and the clients stopped: a lost acknowledged
// write shows there at the latest.
func (w *chaosWorkloads) finalReads(t *testing.T, rec *chaos.Recorder, k roundKeys) {
	t.Helper()
	for _, key := range k.regs {
		poll.Until(t, ClusterTimeout, "a final read of "+key, func() (bool, string) {
			o := w.readReg(w.c.Any(), rec, finalClient, key)
			return o.Status == chaos.OK, o.Detail
		})
	}
	poll.Until(t, ClusterTimeout, "a final read of the Deployment's replicas", func() (bool, string) {
		o := w.readScale(w.c.Any(), rec, finalClient, k)
		if o.Status == chaos.OK {
			w.web, _ = strconv.Atoi(o.Value)
		}
		return o.Status == chaos.OK, o.Detail
	})
}

// counts observes the workloads: Running and Ready pods in the API, and
// running tasks in every node's containerd (-1 when one does not answer).
// The Deployment's desired count is read again each time: a scale whose
// outcome was unknown may still be committed after the final read (a new
// leader commits what its predecessor replicated before it died), and
// the pods must follow the replicas the cluster holds, whatever they are.
func (w *chaosWorkloads) counts(t *testing.T) map[string]chaos.Count {
	t.Helper()
	out, errs, code, _ := cli(w.c.Any(), nil, "get", "deployment", "web", "--consistent", "-o", "json")
	var d struct {
		Spec struct{ Replicas *int }
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d.Spec.Replicas == nil {
		return map[string]chaos.Count{"api (the Deployment: " + errs + ")": {Want: 1}}
	}
	if *d.Spec.Replicas != w.web {
		t.Logf("web's replicas are %d now, %d at the final read: a scale whose outcome was unknown was committed later", *d.Spec.Replicas, w.web)
		w.web = *d.Spec.Replicas
	}
	return w.podCounts()
}

// podCounts counts the pods against the desired counts known.
func (w *chaosWorkloads) podCounts() map[string]chaos.Count {
	out := map[string]chaos.Count{"web": {Want: w.web}, "db": {Want: dbReplicas}}
	r := w.c.Any().Run("get", "pods", "-o", "json")
	var l corev1.PodList
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &l) != nil {
		return map[string]chaos.Count{"api": {Want: 1}}
	}
	for name, cnt := range out {
		for _, p := range Select(l.Items, Labeled("app", name)) {
			if p.Status.Phase == corev1.PodRunning && IsReady(p) && p.DeletionTimestamp == nil {
				cnt.Ready++
			}
		}
		for i := range w.c.Agents {
			n, ok := w.c.PodTasksPrefix(i, name+"-")
			if !ok {
				cnt.Tasks = -1
				break
			}
			cnt.Tasks += n
		}
		out[name] = cnt
	}
	return out
}

// waitConverged waits until the workloads are at their counts and says
// how long after healed that was, or why they are not after
// ClusterTimeout.
func (w *chaosWorkloads) waitConverged(t *testing.T, healed time.Time) (time.Duration, string) {
	t.Helper()
	why := ""
	for time.Since(healed) < ClusterTimeout {
		if why = chaos.Converged(w.counts(t)); why == "" {
			return time.Since(healed), ""
		}
		time.Sleep(300 * time.Millisecond)
	}
	return time.Since(healed), why
}

// checkCreates: every acknowledged create is listed by a consistent read.
func (w *chaosWorkloads) checkCreates(t *testing.T, ops []chaos.Op) chaos.CheckResult {
	t.Helper()
	present := map[string]bool{}
	poll.Until(t, ClusterTimeout, "a consistent list of the ConfigMaps", func() (bool, string) {
		out, errs, code, _ := cli(w.c.Any(), nil, "get", "configmaps", "--consistent", "-o", "json")
		var l corev1.ConfigMapList
		if code != 0 || json.Unmarshal([]byte(out), &l) != nil {
			return false, errs
		}
		for _, cm := range l.Items {
			present[cm.Name] = true
		}
		return true, ""
	})
	acked := 0
	for _, o := range ops {
		if o.Kind == chaos.Create && o.Status == chaos.OK {
			acked++
		}
	}
	lost := chaos.LostWrites(ops, present)
	if len(lost) > 0 {
		return chaos.CheckResult{Name: chaos.CheckNoLostWrites, Detail: fmt.Sprintf("%d of %d acknowledged creates lost: %v", len(lost), acked, lost)}
	}
	return chaos.CheckResult{Name: chaos.CheckNoLostWrites, Passed: true, Detail: fmt.Sprintf("%d acknowledged creates all present", acked)}
}

// checkExclusive reads every heartbeat file written so far: no two
// incarnations of one ordinal may have run at once.
func (w *chaosWorkloads) checkExclusive() chaos.CheckResult {
	res := chaos.CheckResult{Name: chaos.CheckExclusive}
	files, err := filepath.Glob(filepath.Join(w.hb, "*_*_*"))
	if err != nil {
		res.Detail = err.Error()
		return res
	}
	var beats []chaos.Beat
	for _, f := range files {
		parts := strings.SplitN(filepath.Base(f), "_", 3)
		b, err := os.ReadFile(f)
		if err != nil {
			res.Detail = err.Error()
			return res
		}
		bs, err := chaos.ParseBeats(parts[0], parts[1], parts[2], string(b))
		if err != nil {
			res.Detail = err.Error()
			return res
		}
		beats = append(beats, bs...)
	}
	ivs := chaos.Intervals(beats)
	if ov := chaos.Overlaps(beats); len(ov) > 0 {
		var s []string
		for _, o := range ov {
			s = append(s, o.String())
		}
		res.Detail = strings.Join(s, "; ")
		return res
	}
	res.Passed = true
	res.Detail = fmt.Sprintf("%d incarnations, %d heartbeats, no two copies of an ordinal at once", len(ivs), len(beats))
	return res
}

// leakWatch checks, after the cluster is gone, that nothing of it is
// left on the machine.
type leakWatch struct{ c *Cluster }

func (l *leakWatch) check(t *testing.T, dirs []string) chaos.CheckResult {
	res := chaos.CheckResult{Name: chaos.CheckNoLeaks}
	if l.c == nil {
		res.Detail = "the cluster never started"
		return res
	}
	var leaks []string
	for _, d := range dirs {
		if p := processesUnder(d); len(p) > 0 {
			leaks = append(leaks, fmt.Sprintf("processes running from %s: %v", d, p))
		}
		pods, _ := filepath.Glob(filepath.Join(d, "pods", "*"))
		for _, p := range pods {
			if _, err := os.Stat(filepath.Join("/run/netns", "shoal-"+filepath.Base(p))); err == nil {
				leaks = append(leaks, "pod network namespace shoal-"+filepath.Base(p))
			}
		}
	}
	grep := func(what string, argv []string, needles ...string) {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			leaks = append(leaks, fmt.Sprintf("%s: %v", strings.Join(argv, " "), err))
			return
		}
		for line := range strings.Lines(string(out)) {
			for _, n := range needles {
				if strings.Contains(line, n) {
					leaks = append(leaks, fmt.Sprintf("%s: %s", what, strings.TrimSpace(line)))
					break
				}
			}
		}
	}
	grep("network namespace", []string{"ip", "netns", "list"}, l.c.Bridge)
	grep("link", []string{"ip", "-o", "link"}, l.c.Bridge)
	grep("route", []string{"ip", "-4", "route", "show", "table", "all"}, l.c.Subnet+".")
	grep("iptables rule", []string{"iptables-save"}, l.c.Bridge, chaosComment)
	if len(leaks) > 0 {
		res.Detail = strings.Join(leaks, "; ")
		t.Errorf("after teardown: %s", res.Detail)
		return res
	}
	res.Passed = true
	res.Detail = fmt.Sprintf("no processes, pod or agent network namespaces, links, routes or iptables rules of the cluster left (%d data dirs, bridge %s)", len(dirs), l.c.Bridge)
	return res
}
