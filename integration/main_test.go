package integration

import (
	"os"
	"testing"
)

// TestMain removes the shoal binary the tests built (once, on first use)
// after all of them ran.
func TestMain(m *testing.M) {
	code := m.Run()
	CleanupBinary()
	os.Exit(code)
}
