package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"shoal/cluster"
)

// CommandType tags every command in the Raft log. Values are part of the
// log format: never renumber or reuse one.
type CommandType uint8

// IgnoreUnknownTypeFlag marks a command that an agent which does not know
// its type may skip. A newer leader sets it on optional commands so that an
// older agent, mid rolling upgrade, keeps applying the log instead of
// stopping; a type without the flag that an agent does not know stops the
// FSM, because skipping it would silently diverge the replicas.
const IgnoreUnknownTypeFlag CommandType = 128

// Command types. The names match the payload structs.
const (
	SetConfigType CommandType = iota + 1
	PutWorkloadType
	DeleteWorkloadType
	PutServiceType
	DeleteServiceType
	PutPodsType
	TerminatePodsType
	ApplyPlanType
	PodStatusType
	PutNodeType
	SetNodeSchedulableType
	SetNodeStatusType
	DeleteNodeType
	InitTrustType
	SetJoinSecretType
	SetGossipKeysType
	PutTokenType
	DeleteTokenType
	SetPodSecurityType
	PutObjectsType
	DeleteObjectType
	SetSecretKeyType
	EvictPodsType
	TaintNodeType
	ForgetClaimsType
	MarkRaftNodesType

	// maxCommandType is the newest type this agent knows.
	maxCommandType = MarkRaftNodesType

	// batchType is the envelope the Store writes: many commands, one log
	// entry, one result each. It is never nested.
	batchType CommandType = 127
)

var commandNames = map[CommandType]string{
	SetConfigType:          "SetConfig",
	PutWorkloadType:        "PutWorkload",
	DeleteWorkloadType:     "DeleteWorkload",
	PutServiceType:         "PutService",
	DeleteServiceType:      "DeleteService",
	PutPodsType:            "PutPods",
	TerminatePodsType:      "TerminatePods",
	ApplyPlanType:          "ApplyPlan",
	PodStatusType:          "PodStatus",
	PutNodeType:            "PutNode",
	SetNodeSchedulableType: "SetNodeSchedulable",
	SetNodeStatusType:      "SetNodeStatus",
	DeleteNodeType:         "DeleteNode",
	InitTrustType:          "InitTrust",
	SetJoinSecretType:      "SetJoinSecret",
	SetGossipKeysType:      "SetGossipKeys",
	PutTokenType:           "PutToken",
	DeleteTokenType:        "DeleteToken",
	SetPodSecurityType:     "SetPodSecurity",
	PutObjectsType:         "PutObjects",
	DeleteObjectType:       "DeleteObject",
	SetSecretKeyType:       "SetSecretKey",
	EvictPodsType:          "EvictPods",
	TaintNodeType:          "TaintNode",
	ForgetClaimsType:       "ForgetClaims",
	MarkRaftNodesType:      "MarkRaftNodes",
	batchType:              "Batch",
}

func (t CommandType) String() string {
	if n, ok := commandNames[t]; ok {
		return n
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// Command is one change to the cluster state. The payload structs below are
// the only implementations: the FSM must know how to apply every command it
// may find in the log.
type Command interface {
	Type() CommandType
	// apply makes the change in a; it returns domain errors as values and
	// leaves the state untouched when it does.
	apply(a *applier) Result
}

// SetConfig replaces the cluster settings; empty fields get their defaults.
type SetConfig struct {
	Config cluster.Config `json:"config"`
}

// PutWorkload creates or updates a Deployment or StatefulSet.
type PutWorkload struct {
	Workload *cluster.Workload `json:"workload"`
}

// DeleteWorkload removes a workload; its unplaced pods go at once, placed
// ones are marked Terminating for their nodes to stop.
type DeleteWorkload struct {
	Kind      cluster.WorkloadKind `json:"kind"`
	Namespace string               `json:"namespace"`
	Name      string               `json:"name"`
}

// PutService creates or updates a Service.
type PutService struct {
	Service *cluster.Service `json:"service"`
}

// DeleteService removes a Service.
type DeleteService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// PutPods creates or updates bare pods.
type PutPods struct {
	Pods []*cluster.Pod `json:"pods"`
}

// TerminatePods asks pods' nodes to stop them (unplaced pods are removed).
type TerminatePods struct {
	Pods []cluster.PodRef `json:"pods"`
}

// ApplyPlan commits one pass of the scheduler, re-checking every placement.
type ApplyPlan struct {
	Plan *cluster.Plan `json:"plan"`
}

// PodStatus is one node's batch of observed pod states.
type PodStatus struct {
	Node    string                    `json:"node"`
	Updates []cluster.PodStatusUpdate `json:"updates"`
}

// PutNode registers or updates a node.
type PutNode struct {
	Node *cluster.Node `json:"node"`
}

// SetNodeSchedulable cordons (false) or uncordons (true) a node.
type SetNodeSchedulable struct {
	Name        string `json:"name"`
	Schedulable bool   `json:"schedulable"`
}

// SetNodeStatus records a node's health as gossip sees it.
type SetNodeStatus struct {
	Name         string             `json:"name"`
	Status       cluster.NodeStatus `json:"status"`
	DiskPressure bool               `json:"diskPressure,omitempty"`
}

// DeleteNode removes a node; its pods stay, for the scheduler to replace.
type DeleteNode struct {
	Name string `json:"name"`
}

func (*SetConfig) Type() CommandType          { return SetConfigType }
func (*PutWorkload) Type() CommandType        { return PutWorkloadType }
func (*DeleteWorkload) Type() CommandType     { return DeleteWorkloadType }
func (*PutService) Type() CommandType         { return PutServiceType }
func (*DeleteService) Type() CommandType      { return DeleteServiceType }
func (*PutPods) Type() CommandType            { return PutPodsType }
func (*TerminatePods) Type() CommandType      { return TerminatePodsType }
func (*ApplyPlan) Type() CommandType          { return ApplyPlanType }
func (*PodStatus) Type() CommandType          { return PodStatusType }
func (*PutNode) Type() CommandType            { return PutNodeType }
func (*SetNodeSchedulable) Type() CommandType { return SetNodeSchedulableType }
func (*SetNodeStatus) Type() CommandType      { return SetNodeStatusType }
func (*DeleteNode) Type() CommandType         { return DeleteNodeType }

// newCommand returns an empty payload to decode a command of type t into.
func newCommand(t CommandType) (Command, bool) {
	switch t {
	case SetConfigType:
		return &SetConfig{}, true
	case PutWorkloadType:
		return &PutWorkload{}, true
	case DeleteWorkloadType:
		return &DeleteWorkload{}, true
	case PutServiceType:
		return &PutService{}, true
	case DeleteServiceType:
		return &DeleteService{}, true
	case PutPodsType:
		return &PutPods{}, true
	case TerminatePodsType:
		return &TerminatePods{}, true
	case ApplyPlanType:
		return &ApplyPlan{}, true
	case PodStatusType:
		return &PodStatus{}, true
	case PutNodeType:
		return &PutNode{}, true
	case SetNodeSchedulableType:
		return &SetNodeSchedulable{}, true
	case SetNodeStatusType:
		return &SetNodeStatus{}, true
	case DeleteNodeType:
		return &DeleteNode{}, true
	case InitTrustType:
		return &InitTrust{}, true
	case SetJoinSecretType:
		return &SetJoinSecret{}, true
	case SetGossipKeysType:
		return &SetGossipKeys{}, true
	case PutTokenType:
		return &PutToken{}, true
	case DeleteTokenType:
		return &DeleteToken{}, true
	case SetPodSecurityType:
		return &SetPodSecurity{}, true
	case PutObjectsType:
		return &PutObjects{}, true
	case DeleteObjectType:
		return &DeleteObject{}, true
	case SetSecretKeyType:
		return &SetSecretKey{}, true
	case EvictPodsType:
		return &EvictPods{}, true
	case TaintNodeType:
		return &TaintNode{}, true
	case ForgetClaimsType:
		return &ForgetClaims{}, true
	case MarkRaftNodesType:
		return &MarkRaftNodes{}, true
	}
	return nil, false
}

// Result is what one command did.
type Result struct {
	// Index is the Raft index of the log entry that carried the command;
	// WaitForIndex(Index) on any member waits until it is visible there.
	Index uint64
	// Err is a domain error ("deployment default/web: not found"); the
	// command changed nothing when it is set.
	Err error
	// Changed counts objects the command changed; Skipped counts those it
	// left alone on purpose (stale UID, wrong node, backwards phase).
	Changed int
	Skipped int
	// Plan details an ApplyPlan.
	Plan *PlanResult
	// Ignored is set when the agent skipped an unknown optional command.
	Ignored bool
	// Blocked says, for an EvictPods, which pods stay and why.
	Blocked []string
}

// PlanResult counts what an ApplyPlan did.
type PlanResult struct {
	Created, Placed, Pending, Terminated, Deleted int
	// Resized counts admitted resizes and changed pending-resize records.
	Resized int
	// Rejected lists placements (of new or existing pods) that failed the
	// re-check at apply time; those pods stay Pending with the message.
	Rejected []cluster.PendingReason
}

// mh is the msgpack handle for payloads and snapshots: msgpack is about
// twice as fast as encoding/json on placements, and go-msgpack honours the
// cluster types' json tags, so one set of field names serves both.
var mh = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true // time.Time as the msgpack timestamp extension
	return h
}()

// encodeCommand writes one command as its type byte followed by its
// msgpack payload.
// MaxObjectBytes bounds one stored object (a workload, pod or service) in
// its log encoding. Every follower replays every entry and every snapshot
// holds every object, so a huge object slows the whole cluster; etcd's
// limit is 1.5 MiB, ours 1 MiB.
const MaxObjectBytes = 1 << 20

// EncodedSize is how many bytes cmd takes in the Raft log.
func EncodedSize(cmd Command) (int, error) {
	b, err := encodeCommand(cmd)
	return len(b), err
}

// optionalCommand is a command an agent that does not know it may skip
// (see IgnoreUnknownTypeFlag): the state it changes is advisory to the
// agents before it.
type optionalCommand interface {
	optional() bool
}

func encodeCommand(c Command) ([]byte, error) {
	var buf bytes.Buffer
	t := c.Type()
	if o, ok := c.(optionalCommand); ok && o.optional() {
		t |= IgnoreUnknownTypeFlag
	}
	buf.WriteByte(byte(t))
	if err := codec.NewEncoder(&buf, mh).Encode(c); err != nil {
		return nil, fmt.Errorf("encode %s command: %w", c.Type(), err)
	}
	return buf.Bytes(), nil
}

// decodeCommand reads one command. ok is false for an unknown type.
func decodeCommand(b []byte) (t CommandType, c Command, ok bool, err error) {
	if len(b) == 0 {
		return 0, nil, false, errors.New("empty command")
	}
	t = CommandType(b[0])
	c, ok = newCommand(t &^ IgnoreUnknownTypeFlag)
	if !ok {
		return t, nil, false, nil
	}
	if err := codec.NewDecoderBytes(b[1:], mh).Decode(c); err != nil {
		return t, nil, true, fmt.Errorf("decode %s command: %w", t, err)
	}
	return t, c, true, nil
}

// encodeBatch frames already encoded commands into one log entry:
// batchType, uvarint count, then uvarint length and bytes of each.
func encodeBatch(cmds [][]byte) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, c := range cmds {
		n += binary.MaxVarintLen64 + len(c)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, byte(batchType))
	buf = binary.AppendUvarint(buf, uint64(len(cmds)))
	for _, c := range cmds {
		buf = binary.AppendUvarint(buf, uint64(len(c)))
		buf = append(buf, c...)
	}
	return buf
}

// decodeBatch splits a batch entry (without its type byte) into commands.
func decodeBatch(b []byte) ([][]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errors.New("bad batch count")
	}
	b = b[n:]
	out := make([][]byte, 0, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, fmt.Errorf("bad length of batch command %d", i)
		}
		out = append(out, b[n:n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes after batch", len(b))
	}
	return out, nil
}

// Try applies cmds, in order, to a copy of st as the FSM would apply them
// in one log entry, and returns their results; st is left as it was and
// nothing is proposed. It answers a server-side dry run: every check the
// FSM makes (conflicts, node ports, capacity) without a commit. Each
// command is applied from its encoded copy, as from the log, so the
// caller's objects are not changed either.
func Try(st *cluster.State, cmds ...Command) []Result {
	a := &applier{txn: st.Txn(st.Index() + 1)}
	out := make([]Result, len(cmds))
	for i, c := range cmds {
		b, err := encodeCommand(c)
		if err != nil {
			out[i] = Result{Err: err}
			continue
		}
		_, dc, known, err := decodeCommand(b)
		if err != nil || !known {
			out[i] = Result{Err: fmt.Errorf("%w: command %s does not decode: %v", ErrInvalid, c.Type(), err)}
			continue
		}
		if dc.Type() != ApplyPlanType {
			a.pl = nil
		}
		out[i] = dc.apply(a)
	}
	return out
}
