package consensus

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"shoal/internal/diskfull"
)

// applyReq is one caller's commands waiting for a log entry.
type applyReq struct {
	cmds [][]byte
	size int
	resp chan applyResp // buffered: the batcher never blocks on a caller
}

type applyResp struct {
	results []Result
	err     error
}

// Apply commits commands through Raft and returns one Result per command,
// in order; domain errors are in Result.Err, while err says the commands
// may not have been applied at all (not leader, shut down, timeout).
//
// Concurrent callers share log entries: one goroutine takes whatever is
// queued while the previous entry is being written and proposes it as a
// single batch, so a burst of 100 status reports costs one entry, not 100.
// A cancelled ctx stops the wait, not necessarily the commands.
func (s *Store) Apply(ctx context.Context, cmds ...Command) ([]Result, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	select {
	case <-s.done:
		return nil, ErrClosed
	default:
	}
	if s.raft.State() != raft.Leader {
		return nil, fmt.Errorf("apply %s: %w", cmds[0].Type(), s.notLeader())
	}
	if err := s.checkSpace(); err != nil {
		return nil, fmt.Errorf("apply %s: %w", cmds[0].Type(), err)
	}
	// Encoding happens here, in the callers' goroutines, in parallel.
	req := &applyReq{cmds: make([][]byte, len(cmds)), resp: make(chan applyResp, 1)}
	for i, c := range cmds {
		b, err := encodeCommand(c)
		if err != nil {
			return nil, err
		}
		req.cmds[i] = b
		req.size += len(b)
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return nil, fmt.Errorf("apply %s: %w", cmds[0].Type(), ctx.Err())
	case <-s.done:
		return nil, ErrClosed
	}
	select {
	case r := <-req.resp:
		return r.results, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("apply %s: waiting for commit: %w", cmds[0].Type(), ctx.Err())
	case <-s.done:
		return nil, ErrClosed
	}
}

// batcher turns queued requests into log entries. raft.Apply blocks until
// raft's leader loop has taken the previous entry (which includes writing
// it to the local log), and that is exactly the time in which the next
// batch accumulates; waiting for commit happens in another goroutine so
// that entries are pipelined.
func (s *Store) batcher() {
	defer s.wg.Done()
	var carry *applyReq
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.reqs:
			case <-s.done:
				return
			}
		}
		if s.cfg.beforeCollect != nil {
			s.cfg.beforeCollect()
		}
		batch := []*applyReq{first}
		ncmds, nbytes := len(first.cmds), first.size
	collect:
		for {
			select {
			case r := <-s.reqs:
				if ncmds+len(r.cmds) > s.cfg.MaxBatchCommands || nbytes+r.size > s.cfg.MaxBatchBytes {
					carry = r
					break collect
				}
				batch = append(batch, r)
				ncmds += len(r.cmds)
				nbytes += r.size
			default:
				break collect
			}
		}
		all := make([][]byte, 0, ncmds)
		for _, r := range batch {
			all = append(all, r.cmds...)
		}
		f := s.raft.Apply(encodeBatch(all), s.cfg.ApplyTimeout)
		go s.deliver(f, batch)
	}
}

// deliver waits for an entry's commit and hands each caller its results.
func (s *Store) deliver(f raft.ApplyFuture, batch []*applyReq) {
	err := f.Error()
	var results []Result
	if err == nil {
		switch resp := f.Response().(type) {
		case []Result:
			results = resp
		case Result: // the FSM halted on this entry (see fsm.Apply)
			err = fmt.Errorf("apply batch: %w", resp.Err)
		default:
			err = fmt.Errorf("apply batch: unexpected FSM response %T", resp)
		}
	} else if errors.Is(err, raft.ErrLeadershipLost) {
		// The entry was appended and may yet commit under the next leader.
		err = fmt.Errorf("apply batch: %w (%v)", ErrOutcomeUnknown, err)
	} else if errors.Is(err, raft.ErrNotLeader) {
		err = fmt.Errorf("apply batch: %w (%v)", s.notLeader(), err)
	} else if diskfull.Is(err) {
		// The leader steps down when its log append fails; the write was
		// not committed, and the caller is told why.
		err = fmt.Errorf("apply batch: %w", diskfull.Wrap(s.spaceDir(), err))
	} else {
		err = fmt.Errorf("apply batch: %w", err)
	}
	off := 0
	for _, r := range batch {
		if err != nil {
			r.resp <- applyResp{err: err}
			continue
		}
		r.resp <- applyResp{results: results[off : off+len(r.cmds) : off+len(r.cmds)]}
		off += len(r.cmds)
	}
}
