// Package stream fans the agent's events (deny and audit_deny decisions,
// and requests the HTTP observer saw) out to HTTP subscribers as
// newline-delimited JSON, with server-side filters and a bounded buffer per
// subscriber: a slow reader misses events rather than slowing the agent,
// and is told how many it missed.
package stream
