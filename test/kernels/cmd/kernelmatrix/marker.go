package main

import (
	"bytes"
	"io"
)

// markerWriter passes a guest's console on to w and calls seen when the
// console shows marker, wherever the writes split it.
type markerWriter struct {
	w      io.Writer
	marker []byte
	seen   func()
	tail   []byte // the last len(marker)-1 bytes written, for a marker split across writes
	found  bool
}

func (m *markerWriter) Write(b []byte) (int, error) {
	if !m.found {
		buf := append(m.tail, b...)
		if bytes.Contains(buf, m.marker) {
			m.found = true
			m.seen()
		}
		if keep := len(m.marker) - 1; len(buf) > keep {
			buf = buf[len(buf)-keep:]
		}
		m.tail = append(m.tail[:0], buf...)
	}
	return m.w.Write(b)
}
