package main

import (
	"bytes"
	"testing"
)

// TestMarkerWriterSplitWrites: the marker is seen once however the console
// writes split it, and everything written reaches the log unchanged.
func TestMarkerWriterSplitWrites(t *testing.T) {
	console := "[    0.5] booting\nAXON-MOUNT x skipped\nAXON-KERNEL 6.1.0\nAXON-RUN a\nAXON-KERNEL again\n"
	for chunk := 1; chunk <= len(console); chunk++ {
		var log bytes.Buffer
		seen, at := 0, -1
		m := &markerWriter{w: &log, marker: []byte("AXON-KERNEL "), seen: func() { seen++; at = log.Len() }}
		for off := 0; off < len(console); off += chunk {
			if _, err := m.Write([]byte(console[off:min(off+chunk, len(console))])); err != nil {
				t.Fatal(err)
			}
		}
		if seen != 1 || log.String() != console {
			t.Fatalf("chunks of %d: seen %d times, log %q", chunk, seen, log.String())
		}
		// Seen with the write that completes the marker, not later.
		if end := bytes.Index([]byte(console), []byte("AXON-KERNEL ")) + len("AXON-KERNEL "); at >= end {
			t.Fatalf("chunks of %d: seen after %d bytes, the marker ends at %d", chunk, at, end)
		}
	}
	var log bytes.Buffer
	m := &markerWriter{w: &log, marker: []byte("AXON-KERNEL "), seen: func() { t.Fatal("seen without the marker") }}
	m.Write([]byte("AXON-KERNE"))
	m.Write([]byte("L"))
	m.Write([]byte("X "))
}
