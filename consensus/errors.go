package consensus

import (
	"errors"
	"fmt"
)

// Errors of this package. Domain errors reach callers in Result.Err,
// wrapped with the object they concern; test them with errors.Is.
var (
	// ErrNotLeader: only the leader applies commands; the error is a
	// *NotLeaderError naming the leader, for the API layer to forward to.
	ErrNotLeader = errors.New("not the raft leader")
	// ErrOutcomeUnknown: leadership was lost while the entry was being
	// committed. The next leader may still commit it or drop it; unlike
	// ErrNotLeader (never proposed), retrying blindly may apply it twice.
	ErrOutcomeUnknown = errors.New("leadership was lost while the write was being committed: it may or may not have been applied; read the state before retrying")
	// ErrNotFound: the object a command names does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an object of that name exists with another UID.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the command's content is unusable (bad CIDR, empty name).
	ErrInvalid = errors.New("invalid")
	// ErrCIDRExhausted: the cluster CIDR has no free /24 for a new node.
	ErrCIDRExhausted = errors.New("cluster CIDR exhausted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("consensus store closed")
	// ErrHalted: a log entry could not be applied (corrupt, or written by
	// a newer agent); this member applies nothing more and must stop.
	ErrHalted = errors.New("raft log halted")
)

// NotLeaderError says who the leader is, as far as this member knows
// (empty while an election is under way).
type NotLeaderError struct {
	LeaderAddr string
	LeaderID   string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "not the raft leader (no leader known)"
	}
	return fmt.Sprintf("not the raft leader (leader %s at %s)", e.LeaderID, e.LeaderAddr)
}

// Unwrap makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
