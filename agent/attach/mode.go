package attach

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Mode is the attach mechanism.
type Mode string

const (
	// ModeAuto uses TCX when the kernel has it and clsact otherwise.
	ModeAuto Mode = "auto"
	// ModeTCX uses TCX links (Linux >= 6.6).
	ModeTCX Mode = "tcx"
	// ModeClsact uses a clsact qdisc with a direct-action cls_bpf filter.
	ModeClsact Mode = "clsact"
)

// ParseMode validates a mode name given on a command line.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeAuto, ModeTCX, ModeClsact:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%w: %q (want auto, tcx or clsact)", ErrBadMode, s)
}

// Direction is the side of an interface a program runs on.
type Direction string

const (
	Ingress Direction = "ingress"
	Egress  Direction = "egress"
)

// Directions lists both directions in a fixed order.
var Directions = []Direction{Ingress, Egress}

func (d Direction) tcxAttachType() ebpf.AttachType {
	if d == Ingress {
		return ebpf.AttachTCXIngress
	}
	return ebpf.AttachTCXEgress
}

var (
	// ErrBadMode is returned for an unknown attach mode.
	ErrBadMode = errors.New("unknown attach mode")
	// ErrNoInterface is returned when a named interface does not exist.
	ErrNoInterface = errors.New("interface not found")
	// ErrNoProgram is returned when Programs lacks the program for a direction.
	ErrNoProgram = errors.New("no program for direction")
)
