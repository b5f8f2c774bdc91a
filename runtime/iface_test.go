package runtime_test

import (
	"shoal/agent/node"
	"shoal/runtime"
)

// The node reconciler's interface is what this package promises.
var _ node.Runtime = (*runtime.Runtime)(nil)
