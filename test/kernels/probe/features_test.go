package probe

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// feature is one probed kernel capability. since is the first kernel version that has it
// (0.0: required on every supported kernel; -1: reported only); the test checks the probe
// agrees with it, so a probe that always answers "no" (or "yes") fails somewhere in the matrix.
type feature struct {
	name                   string
	sinceMajor, sinceMinor int
	probe                  func() error
}

func helper(fn asm.BuiltinFunc) func() error {
	return func() error { return features.HaveProgramHelper(ebpf.SchedCLS, fn) }
}

func mapType(mt ebpf.MapType) func() error {
	return func() error { return features.HaveMapType(mt) }
}

var probes = []feature{
	{"prog_sched_cls", 0, 0, func() error { return features.HaveProgramType(ebpf.SchedCLS) }},
	{"map_lpm_trie", 0, 0, mapType(ebpf.LPMTrie)},
	{"map_percpu_array", 0, 0, mapType(ebpf.PerCPUArray)},
	{"map_ringbuf", 5, 8, mapType(ebpf.RingBuf)},
	{"helper_skb_load_bytes", 0, 0, helper(asm.FnSkbLoadBytes)},
	{"helper_skb_store_bytes", 0, 0, helper(asm.FnSkbStoreBytes)},
	{"helper_skb_change_tail", 0, 0, helper(asm.FnSkbChangeTail)},
	{"helper_clone_redirect", 0, 0, helper(asm.FnCloneRedirect)},
	{"helper_l4_csum_replace", 0, 0, helper(asm.FnL4CsumReplace)},
	{"helper_ktime_get_boot_ns", 5, 8, helper(asm.FnKtimeGetBootNs)},
	{"helper_loop", 5, 17, helper(asm.FnLoop)},
	{"bounded_loops", 5, 3, features.HaveBoundedLoops},
	{"insn_limit_1m", 5, 2, features.HaveLargeInstructions},
	{"isa_v3", 5, 1, features.HaveV3ISA},
	// cilium/ebpf's v4 probe (a JMP32 JA) is accepted by Debian's 6.1 too: reported only.
	{"isa_v4_probe", -1, 0, features.HaveV4ISA},
	{"isa_v4_sx_load", 6, 6, haveSignExtendingLoad},
	{"kernel_btf", 5, 4, func() error { _, err := btf.LoadKernelSpec(); return err }},
}

// haveSignExtendingLoad loads a socket filter using a v4-ISA sign-extending load
// (clang -mcpu=v4 emits these).
func haveSignExtendingLoad() error {
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R1, -1),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			asm.LoadMemSX(asm.R0, asm.RFP, -8, asm.Byte),
			asm.Return(),
		},
	}, ebpf.ProgramOptions{LogDisabled: true})
	if errors.Is(err, unix.EINVAL) {
		return ebpf.ErrNotSupported
	}
	if err != nil {
		return err
	}
	return prog.Close()
}

// TestFeatures probes what the datapath may use and prints one AXON-FEATURE line each.
func TestFeatures(t *testing.T) {
	needRoot(t)
	major, minor, release, err := KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("AXON-FEATURE kernel=%d.%d\n", major, minor)
	for _, f := range probes {
		err := f.probe()
		have := err == nil
		if err != nil && !errors.Is(err, ebpf.ErrNotSupported) {
			t.Errorf("%s: probe failed: %v", f.name, err)
			continue
		}
		fmt.Printf("AXON-FEATURE %s=%s\n", f.name, map[bool]string{true: "yes", false: "no"}[have])
		if f.sinceMajor < 0 {
			continue
		}
		if want := AtLeast(major, minor, f.sinceMajor, f.sinceMinor); have != want {
			t.Errorf("%s on %s: have=%v, want %v (since %d.%d)", f.name, release, have, want, f.sinceMajor, f.sinceMinor)
		}
	}
}
