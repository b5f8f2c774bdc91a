package gossip

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"

	"shoal/cluster"
)

// Labels that name a node's failure zone, in order of preference.
const (
	ZoneLabel     = "zone"
	TopologyLabel = "topology.kubernetes.io/zone"
)

// MaxGPUModel is the length a GPU model name is cut to before encoding: the
// model is informative (the full inventory lives in the Raft state) and
// must not crowd the 512-byte meta budget.
const MaxGPUModel = 48

// metaVersion is the framing version: a version byte, then fields as
// (tag byte, uvarint length, value). New fields get new tags within this
// framing, and decoders skip tags they do not know, so old agents read new
// agents' meta. Only a change of the framing itself bumps the version.
const metaVersion = 1

// Field tags. Never reuse a tag: an old agent would misread it.
const (
	tagAddress    = 1
	tagAPIPort    = 2
	tagRaftPort   = 3
	tagDNSPort    = 4
	tagMilliCPU   = 5
	tagMemory     = 6
	tagGPUs       = 7
	tagGPUModel   = 8
	tagZone       = 9
	tagLabelsHash = 10
	tagVersion    = 11
	tagRole       = 12
	tagPodCIDR    = 13
	tagFlags      = 14
	tagEphemeral  = 15
)

// Bits of the flags field. Flags are written only when some bit is set, and
// a meta without them (an older agent's) means every bit clear, so each bit
// must say something is wrong: "all clear" is what older agents imply.
// Bits this version does not know are ignored.
const (
	flagRuntimeNotReady = 1 << 0
	flagDiskPressure    = 1 << 1
)

// NodeMeta is the compact node summary carried in gossip. The node's name
// is its memberlist name. Everything here is a hint for placement and
// routing before the Raft state catches up; the full inventory (labels,
// each GPU) lives in the Raft state.
type NodeMeta struct {
	// Address is the node's advertised IP; filled from the gossip address
	// when empty.
	Address  string
	APIPort  int
	RaftPort int
	DNSPort  int
	// MilliCPU, Memory and EphemeralStorage (bytes) are the allocatable
	// resources.
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	GPUs             int
	GPUModel         string // truncated to MaxGPUModel bytes
	Zone             string // the zone label, see ZoneOf
	// LabelsHash tells peers that the node's labels changed without
	// carrying them; see HashLabels.
	LabelsHash uint64
	Version    string // agent version
	Role       string // Raft role hint: cluster.RaftLeader, RaftVoter, RaftNonvoter
	PodCIDR    string
	// RuntimeNotReady: the node's container runtime (containerd) is down,
	// restarting or not answering; the leader shows the node NotReady and
	// places no new pods on it. Pods already there keep running.
	RuntimeNotReady bool
	// DiskPressure: the node's data dir is below its free-space reserve;
	// it refuses writes while it leads, and shows the condition.
	DiskPressure bool
}

// Encode returns the wire form of m, at most memberlist.MetaMaxSize bytes.
// The GPU model is truncated to MaxGPUModel first; meta still too large is
// refused with ErrMetaTooLarge (memberlist would panic on it).
func (m NodeMeta) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128)
	b = append(b, metaVersion)
	b = putString(b, tagAddress, m.Address)
	b = putUint(b, tagAPIPort, uint64(m.APIPort))
	b = putUint(b, tagRaftPort, uint64(m.RaftPort))
	b = putUint(b, tagDNSPort, uint64(m.DNSPort))
	b = putUint(b, tagMilliCPU, uint64(m.MilliCPU))
	b = putUint(b, tagMemory, uint64(m.Memory))
	b = putUint(b, tagEphemeral, uint64(m.EphemeralStorage))
	b = putUint(b, tagGPUs, uint64(m.GPUs))
	b = putString(b, tagGPUModel, truncate(m.GPUModel, MaxGPUModel))
	b = putString(b, tagZone, m.Zone)
	if m.LabelsHash != 0 {
		b = putField(b, tagLabelsHash, binary.BigEndian.AppendUint64(nil, m.LabelsHash))
	}
	b = putString(b, tagVersion, m.Version)
	b = putString(b, tagRole, m.Role)
	b = putString(b, tagPodCIDR, m.PodCIDR)
	var flags uint64
	if m.RuntimeNotReady {
		flags |= flagRuntimeNotReady
	}
	if m.DiskPressure {
		flags |= flagDiskPressure
	}
	b = putUint(b, tagFlags, flags)
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (shorten the zone, version or address)",
			ErrMetaTooLarge, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// Validate checks ports and capacities; size is checked by Encode.
func (m NodeMeta) Validate() error {
	for _, p := range []struct {
		name string
		v    int
	}{{"api", m.APIPort}, {"raft", m.RaftPort}, {"dns", m.DNSPort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("%w: %s port %d out of range", ErrMetaInvalid, p.name, p.v)
		}
	}
	if m.MilliCPU < 0 || m.Memory < 0 || m.EphemeralStorage < 0 || m.GPUs < 0 {
		return fmt.Errorf("%w: negative capacity", ErrMetaInvalid)
	}
	return nil
}

// DecodeMeta parses meta written by Encode of this or a later version of
// Shoal: fields it does not know are skipped.
func DecodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMetaInvalid)
	}
	if b[0] != metaVersion {
		return m, fmt.Errorf("%w: framing version %d, this agent reads %d", ErrMetaInvalid, b[0], metaVersion)
	}
	b = b[1:]
	for len(b) > 0 {
		tag := b[0]
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || n > uint64(len(b)-1-w) {
			return m, fmt.Errorf("%w: truncated field %d", ErrMetaInvalid, tag)
		}
		v := b[1+w : 1+w+int(n)]
		b = b[1+w+int(n):]
		var err error
		switch tag {
		case tagAddress:
			m.Address = string(v)
		case tagAPIPort:
			m.APIPort, err = getPort(v)
		case tagRaftPort:
			m.RaftPort, err = getPort(v)
		case tagDNSPort:
			m.DNSPort, err = getPort(v)
		case tagMilliCPU:
			m.MilliCPU, err = getInt64(v)
		case tagMemory:
			m.Memory, err = getInt64(v)
		case tagEphemeral:
			m.EphemeralStorage, err = getInt64(v)
		case tagGPUs:
			var g int64
			g, err = getInt64(v)
			m.GPUs = int(g)
		case tagGPUModel:
			m.GPUModel = string(v)
		case tagZone:
			m.Zone = string(v)
		case tagLabelsHash:
			if len(v) != 8 {
				err = fmt.Errorf("labels hash of %d bytes", len(v))
			} else {
				m.LabelsHash = binary.BigEndian.Uint64(v)
			}
		case tagVersion:
			m.Version = string(v)
		case tagRole:
			m.Role = string(v)
		case tagPodCIDR:
			m.PodCIDR = string(v)
		case tagFlags:
			var flags uint64
			flags, err = getUint(v)
			m.RuntimeNotReady = flags&flagRuntimeNotReady != 0
			m.DiskPressure = flags&flagDiskPressure != 0
		default:
			// A field from a newer agent: skipping it is the compatibility
			// promise of the framing.
		}
		if err != nil {
			return m, fmt.Errorf("%w: field %d: %w", ErrMetaInvalid, tag, err)
		}
	}
	return m, nil
}

// HashLabels returns a stable 64-bit FNV-1a hash of labels (order-free), so
// gossip can say "my labels changed" in 8 bytes however many labels a node has.
func HashLabels(labels map[string]string) uint64 {
	if len(labels) == 0 {
		return 0
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New64a()
	for _, k := range keys {
		// NUL separators: label keys and values cannot contain NUL, so
		// distinct label sets cannot produce the same byte stream.
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// ZoneOf returns the node's zone: the `zone` label, else the Kubernetes
// topology label.
func ZoneOf(labels map[string]string) string {
	if z := labels[ZoneLabel]; z != "" {
		return z
	}
	return labels[TopologyLabel]
}

// MetaFromNode summarises a cluster node for gossip.
func MetaFromNode(n *cluster.Node) NodeMeta {
	m := NodeMeta{
		Address:  n.Address,
		APIPort:  portOf(n.APIAddr),
		RaftPort: portOf(n.RaftAddr),
		DNSPort:  portOf(n.DNSAddr),
		MilliCPU: n.Allocatable.MilliCPU,
		Memory:   n.Allocatable.Memory,
		// Older agents skip the tag: the summary is a hint, the node
		// record in the Raft state is what placement reads.
		EphemeralStorage: n.Allocatable.EphemeralStorage,
		GPUs:             len(n.GPUs),
		Zone:             ZoneOf(n.Labels),
		LabelsHash:       HashLabels(n.Labels),
		Version:          n.AgentVersion,
		Role:             n.Raft,
		PodCIDR:          n.PodCIDR,
	}
	if m.GPUs == 0 && n.Allocatable.GPU > 0 {
		m.GPUs = int(n.Allocatable.GPU)
	}
	if len(n.GPUs) > 0 {
		m.GPUModel = truncate(n.GPUs[0].Model, MaxGPUModel)
	}
	return m
}

func portOf(hostport string) int {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return 0
	}
	return n
}

// truncate cuts s to at most n bytes without splitting a UTF-8 rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func putField(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// putString and putUint omit zero values: absent and zero decode alike, and
// every byte counts against the 512-byte budget.
func putString(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	return putField(b, tag, []byte(s))
}

func putUint(b []byte, tag byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return putField(b, tag, binary.AppendUvarint(nil, v))
}

func getUint(v []byte) (uint64, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || w != len(v) {
		return 0, fmt.Errorf("bad varint")
	}
	return n, nil
}

func getInt64(v []byte) (int64, error) {
	n, err := getUint(v)
	if err != nil {
		return 0, err
	}
	if n > 1<<63-1 {
		return 0, fmt.Errorf("value %d overflows", n)
	}
	return int64(n), nil
}

func getPort(v []byte) (int, error) {
	n, err := getUint(v)
	if err != nil {
		return 0, err
	}
	if n > 65535 {
		return 0, fmt.Errorf("port %d out of range", n)
	}
	return int(n), nil
}
