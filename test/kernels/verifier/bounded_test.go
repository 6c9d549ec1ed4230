//go:build kernelfail

package verifier

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"
)

// TestCopyBounded loads the kernel-specific form of the same copy. It passes on kernels
// whose verifier learns n >= 1 from "if n == 0" (6.12, the host's 6.18) and fails on 5.10
// and 6.1 with "invalid zero-sized read": the failure the kernel matrix exists to catch.
func TestCopyBounded(t *testing.T) {
	needRoot(t)
	var objs boundedObjects
	if err := loadBoundedObjects(&objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Logf("verifier log:\n%+v", ve)
		}
		t.Fatalf("loading copy_bounded: %v", err)
	}
	defer objs.Close()
	checkCopy(t, objs.CopyBounded)
}
