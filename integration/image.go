package integration

import (
	"testing"

	"shoal/internal/testenv"
	"shoal/internal/testimage"
)

// Image serves the tests' busybox image (internal/testimage, built from
// the host's static busybox) from a docker-registry on loopback started
// for this test, and returns its reference. The agent pulls it over plain
// HTTP, as it does from any registry on 127.0.0.0/8, so tests exercise the
// real pull path with no registry on the internet. Call it before
// StartAgent: cleanups run last-in first-out, so the agent, which may
// still pull, stops before the registry.
func Image(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	archive := testimage.Busybox(t)
	ref := testenv.Registry(t) + "/shoal/busybox:1"
	testenv.PushImage(t, archive, ref)
	return ref
}
