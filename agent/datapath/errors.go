package datapath

import "errors"

var (
	// ErrTableTooLarge: the table does not fit the datapath's bounds (a
	// method name, path prefix or glob too long, too many glob candidates
	// on a row). The maps are left as they were.
	ErrTableTooLarge = errors.New("table exceeds datapath bounds")
	// ErrClosed: the datapath was closed.
	ErrClosed = errors.New("datapath closed")
)
