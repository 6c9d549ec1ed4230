package probe

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// Verdicts of the probe program (TC actions) and its counter slots.
const (
	actOK   = 0 // TC_ACT_OK
	actShot = 2 // TC_ACT_SHOT

	slotPass = 0
	slotDrop = 1
)

// payloadOffset is the first UDP payload byte of an untagged IPv4 frame without options.
const payloadOffset = 14 + 20 + 8

// Program is the probe classifier and its counter map.
type Program struct {
	Prog     *ebpf.Program
	Counters *ebpf.Map // array of two u64: packets passed, packets dropped
}

// Close releases the program and map.
func (p *Program) Close() {
	p.Prog.Close()
	p.Counters.Close()
}

// Load builds and loads the probe: a TC classifier that drops a frame whose first UDP
// payload byte is 'D' (direct packet access, bounds checked against data_end), passes
// anything else, and counts both in an array map with an atomic add.
func Load() (*Program, error) {
	counters, err := ebpf.NewMap(&ebpf.MapSpec{
		Name: "axon_probe_cnt", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("creating counter map: %w", err)
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 76, asm.Word), // skb->data
		asm.LoadMem(asm.R3, asm.R6, 80, asm.Word), // skb->data_end
		asm.Mov.Imm(asm.R7, slotPass),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, payloadOffset+1),
		asm.JGT.Reg(asm.R4, asm.R3, "count"),
		asm.LoadMem(asm.R5, asm.R2, payloadOffset, asm.Byte),
		asm.JNE.Imm(asm.R5, 'D', "count"),
		asm.Mov.Imm(asm.R7, slotDrop),

		asm.StoreMem(asm.RFP, -4, asm.R7, asm.Word).WithSymbol("count"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, counters.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),

		asm.Mov.Reg(asm.R0, asm.R7).WithSymbol("out"),
		asm.LSh.Imm(asm.R0, 1), // slotDrop (1) -> TC_ACT_SHOT (2), slotPass (0) -> TC_ACT_OK (0)
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "axon_probe", Type: ebpf.SchedCLS, License: "GPL", Instructions: insns,
	})
	if err != nil {
		counters.Close()
		return nil, fmt.Errorf("loading probe program: %w", err)
	}
	return &Program{Prog: prog, Counters: counters}, nil
}

// Count reads one counter slot.
func (p *Program) Count(slot uint32) (uint64, error) {
	var v uint64
	if err := p.Counters.Lookup(slot, &v); err != nil {
		return 0, fmt.Errorf("reading counter %d: %w", slot, err)
	}
	return v, nil
}
