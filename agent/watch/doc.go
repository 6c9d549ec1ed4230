// Package watch polls a policy directory and reports when its contents have
// changed and settled, so the agent can reload within a bounded delay.
package watch
