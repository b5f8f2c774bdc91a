package cluster

import (
	"fmt"
	"slices"
	"testing"
)

// TestChangeLogAcrossChunks checks that a State committed in the middle of
// the pod list's chunks keeps what it named when its Txn goes on appending.
func TestChangeLogAcrossChunks(t *testing.T) {
	base := Empty()
	tx := base.Txn(1)
	var committed []*State
	for i := range 3 * podKeysChunk {
		tx.PutPod(testPod(fmt.Sprintf("c%05d", i), ""))
		if i%700 == 0 {
			committed = append(committed, tx.Commit())
		}
	}
	for i, cs := range committed {
		c, ok := cs.ChangesSince(base.Index())
		if want := i*700 + 1; !ok || len(c.Pods) != want || !c.Pods[fmt.Sprintf("default/c%05d", want-1)] {
			t.Fatalf("commit %d names %d pods (ok %v), want %d up to c%05d", i, len(c.Pods), ok, want, want-1)
		}
	}
}

// TestChangesNameEachKeyOnce checks that the log's lists, which keep
// repeats, come out of ChangesSince as sets.
func TestChangesNameEachKeyOnce(t *testing.T) {
	tx := Empty().Txn(1)
	for _, name := range []string{"a", "b", "a", "a", "b"} {
		tx.PutPod(testPod(name, "n1"))
	}
	tx.DeletePod("default", "a")
	tx.DeletePod("default", "nope")
	c, ok := tx.Commit().ChangesSince(0)
	if !ok || !slices.Equal(keys(c.Pods), []string{"default/a", "default/b"}) || !slices.Equal(keys(c.Owners), []string{"uid-web"}) {
		t.Fatalf("ok %v, pods %v, owners %v", ok, keys(c.Pods), keys(c.Owners))
	}
}
