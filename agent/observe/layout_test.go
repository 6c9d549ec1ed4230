package observe

import (
	"testing"
	"unsafe"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/test/btflayout"
)

// TestLayoutsMatchBTF compares the Go structs shared with axon_sock.c with
// the C structs in the compiled object's BTF: size and every member's
// offset. It also pins the offsets decodeEvent reads by hand.
func TestLayoutsMatchBTF(t *testing.T) {
	spec, err := bpf.LoadAxonSock()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]any{
		"axs_event": bpf.AxonSockAxsEvent{},
		"axs_conn":  bpf.AxonSockAxsConn{},
	}
	btflayout.Check(t, spec.Types, cases)
	var e bpf.AxonSockAxsEvent
	offs := map[string][2]uintptr{
		"type": {unsafe.Offsetof(e.Type), 0}, "dir": {unsafe.Offsetof(e.Dir), 1}, "family": {unsafe.Offsetof(e.Family), 2}, "flags": {unsafe.Offsetof(e.Flags), 3},
		"lport": {unsafe.Offsetof(e.Lport), 4}, "rport": {unsafe.Offsetof(e.Rport), 6}, "netns": {unsafe.Offsetof(e.Netns), 8},
		"tgid": {unsafe.Offsetof(e.Tgid), 12}, "seq": {unsafe.Offsetof(e.Seq), 16}, "total": {unsafe.Offsetof(e.Total), 20},
		"cap": {unsafe.Offsetof(e.Cap), 24}, "ts": {unsafe.Offsetof(e.Ts), 32}, "conn": {unsafe.Offsetof(e.Conn), 40},
		"laddr": {unsafe.Offsetof(e.Laddr), 48}, "raddr": {unsafe.Offsetof(e.Raddr), 64}, "data": {unsafe.Offsetof(e.Data), headerSize},
	}
	for f, o := range offs {
		if o[0] != o[1] {
			t.Errorf("axs_event.%s at %d, decodeEvent reads it at %d", f, o[0], o[1])
		}
	}
}

// TestBoundsMatchObject checks the Go copies of the observer's bounds
// against the object.
func TestBoundsMatchObject(t *testing.T) {
	spec, err := bpf.LoadAxonSock()
	if err != nil {
		t.Fatal(err)
	}
	if n := spec.Maps[bpf.AxonSockMapAxsStats].MaxEntries; n != numStats {
		t.Errorf("axs_stats has %d entries, Go reads %d", n, numStats)
	}
	if n := spec.Maps[bpf.AxonSockMapAxsNetnsBits].MaxEntries; n != netnsBits/64 {
		t.Errorf("axs_netns_bits has %d words, Go writes %d", n, netnsBits/64)
	}
	used := map[string]bool{}
	for _, names := range programsOf {
		for _, n := range names {
			if spec.Programs[n] == nil {
				t.Errorf("program %s is not in the object", n)
			}
			used[n] = true
		}
	}
	for n := range spec.Programs {
		if !used[n] {
			t.Errorf("program %s of the object is in no set of hooks", n)
		}
	}
}
