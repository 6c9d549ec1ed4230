package verifier

import (
	"errors"
	"testing"

	"github.com/axon-dev/axon/test/netns"

	"github.com/cilium/ebpf"
)

// copyMax and nothingCopied mirror COPY_MAX and NOTHING_COPIED in loadlen.h.
const (
	copyMax       = 64
	nothingCopied = 2 + 256
)

func needRoot(t *testing.T) {
	t.Helper()
	netns.RequireRoot(t)
}

// frame is an Ethernet frame of n bytes with a local experimental ethertype (so the
// kernel does not parse it as IP) and a position-dependent byte pattern.
func frame(n int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(i*7 + 3)
	}
	f[12], f[13] = 0x88, 0xb5
	return f
}

// checkCopy runs a copy program on frames around COPY_MAX and expects the last copied
// byte, frame[min(len, COPY_MAX)-1], back as the verdict.
func checkCopy(t *testing.T, prog *ebpf.Program) {
	t.Helper()
	for _, n := range []int{14, 15, 63, 64, 65, 200} {
		f := frame(n)
		want := uint32(f[min(n, copyMax)-1])
		got, err := prog.Run(&ebpf.RunOptions{Data: f})
		if err != nil {
			t.Fatalf("running on a %d-byte frame: %v", n, err)
		}
		if got == nothingCopied {
			t.Errorf("%d-byte frame: program copied nothing", n)
		} else if got != want {
			t.Errorf("%d-byte frame: last copied byte = %#x, want %#x", n, got, want)
		}
	}
}

// TestCopyMasked loads the portable variable-length copy: it must pass every verifier in
// the matrix and copy the right bytes.
func TestCopyMasked(t *testing.T) {
	needRoot(t)
	var objs maskedObjects
	if err := loadMaskedObjects(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Logf("verifier log:\n%+v", ve)
		}
		t.Fatalf("loading copy_masked (verifier rejected the portable form): %v", err)
	}
	defer objs.Close()
	checkCopy(t, objs.CopyMasked)
}
