package compiler

import "github.com/axon-dev/axon/policy/table"

// Option tunes Compile.
type Option func(*options)

type options struct {
	previous *table.Table
	cache    *Cache
}

// WithPrevious makes Compile keep the identity, endpoint and method IDs of a
// previously compiled table for the sources, endpoints and methods that still
// exist, so that the map updates between the two tables stay small.
func WithPrevious(t *table.Table) Option {
	return func(o *options) { o.previous = t }
}
