// Package netns builds real network topologies for tests: named network
// namespaces joined to a bridge by veth pairs, commands and Go functions run
// inside a namespace, and HTTP servers that record every request they receive.
//
// Everything a test creates is removed by t.Cleanup, also after a failure.
// Names carry a random suffix so leftovers of an earlier run never collide.
// The package needs root and iproute2; RequireRoot skips a test otherwise.
package netns
