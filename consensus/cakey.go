package consensus

import (
	"encoding/binary"

	"shoal/cluster"
)

// The cluster CA's key stays with the Raft members. Every member needs it
// (whichever leads signs joining nodes' certificates and renewals), but
// the agents outside Raft, most of a large cluster, only verify with the
// CA certificate: the state stream leaves the key out of what it serves,
// in snapshots and in the InitTrust entry, so a client's memory holds no
// key a compromised node could sign itself certificates with. When a
// client is made a member, its state (built from the stream) lacks the
// key, and the entries and snapshot raft then replays to it are at or
// below its index, which the FSM otherwise skips; it takes the key alone
// from them (adoptCAKey), so a promoted member can sign when it leads.

// withoutCAKey is st as the stream serves it.
func withoutCAKey(st *cluster.State) *cluster.State {
	tr := st.Trust()
	if tr.CAKey == "" {
		return st
	}
	tr.CAKey = ""
	return st.WithTrust(tr)
}

// streamEntry is e as the stream serves it: an InitTrust, alone or in a
// batch, without the CA key. Other entries are returned as they are,
// without a copy.
func streamEntry(e Entry) Entry {
	if len(e.Data) == 0 {
		return e
	}
	switch CommandType(e.Data[0]) &^ IgnoreUnknownTypeFlag {
	case InitTrustType:
		if b, ok := redactInitTrust(e.Data); ok {
			e.Data = b
		}
	case batchType:
		if !batchHolds(e.Data[1:], InitTrustType) {
			return e
		}
		cmds, err := decodeBatch(e.Data[1:])
		if err != nil {
			return e // the FSM applied it, so this cannot happen; serve it unchanged rather than guess
		}
		for i, c := range cmds {
			if b, ok := redactInitTrust(c); ok {
				cmds[i] = b
			}
		}
		e.Data = encodeBatch(cmds)
	}
	return e
}

// batchHolds reports whether a batch (without its type byte) holds a
// command of type t, without allocating: most entries are batches, and
// every applied entry passes here.
func batchHolds(b []byte, t CommandType) bool {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return false
	}
	b = b[n:]
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return false
		}
		if l > 0 && CommandType(b[n])&^IgnoreUnknownTypeFlag == t {
			return true
		}
		b = b[n+int(l):]
	}
	return false
}

// redactInitTrust re-encodes an InitTrust command without the CA key; ok
// is false for any other command, or one without a key.
func redactInitTrust(b []byte) ([]byte, bool) {
	if len(b) == 0 || CommandType(b[0])&^IgnoreUnknownTypeFlag != InitTrustType {
		return nil, false
	}
	_, c, known, err := decodeCommand(b)
	if err != nil || !known {
		return nil, false
	}
	it := c.(*InitTrust)
	if it.Trust.CAKey == "" {
		return nil, false
	}
	it.Trust.CAKey = ""
	out, err := encodeCommand(it)
	if err != nil {
		return nil, false
	}
	return out, true
}

// caKeyIn returns the CA key an entry's InitTrust carries for the CA
// certificate caCert ("" if none).
func caKeyIn(data []byte, caCert string) string {
	if len(data) == 0 {
		return ""
	}
	cmds := [][]byte{data}
	if CommandType(data[0])&^IgnoreUnknownTypeFlag == batchType {
		if !batchHolds(data[1:], InitTrustType) {
			return ""
		}
		var err error
		if cmds, err = decodeBatch(data[1:]); err != nil {
			return ""
		}
	}
	for _, b := range cmds {
		if len(b) == 0 || CommandType(b[0])&^IgnoreUnknownTypeFlag != InitTrustType {
			continue
		}
		if _, c, known, err := decodeCommand(b); err == nil && known {
			if tr := c.(*InitTrust).Trust; tr.CACert == caCert {
				return tr.CAKey
			}
		}
	}
	return ""
}

// withCAKey returns cur with the CA key from other when cur lacks it and
// other holds it for the same CA certificate, else nil.
func withCAKey(cur *cluster.State, key, caCert string) *cluster.State {
	tr := cur.Trust()
	if tr.CAKey != "" || tr.CACert == "" || key == "" || caCert != tr.CACert {
		return nil
	}
	tr.CAKey = key
	return cur.WithTrust(tr)
}
