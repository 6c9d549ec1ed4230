package attach

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// Programs are the TC programs to attach, one per direction. Both may be the
// same program.
type Programs struct {
	Ingress *ebpf.Program
	Egress  *ebpf.Program
}

func (p Programs) forDir(d Direction) *ebpf.Program {
	if d == Ingress {
		return p.Ingress
	}
	return p.Egress
}

// Config configures an Attacher.
type Config struct {
	// PinDir is the bpffs directory for Axon's pins, e.g. /sys/fs/bpf/axon.
	PinDir string
	// Mode picks the mechanism; ModeAuto probes for TCX.
	Mode Mode
	// Logger receives one line per attach event. Nil discards.
	Logger *slog.Logger
}

// Attachment is the state of one interface and direction.
type Attachment struct {
	Interface string
	Direction Direction
	Mode      Mode // mechanism in use; empty when not attached
	// Adopted: a pinned TCX link or cls_bpf filter (an earlier agent's) was
	// reused. A TCX link is adopted only in step: its hook's revision was
	// the recorded one (nothing attached, detached or replaced there since
	// the program was last found first) and the update was the only change
	// up to the check after it; else the flows through it may have missed
	// packets, and the attachment counts as made anew.
	Adopted   bool
	Err       error  // why it is not attached, nil when attached
	ProgramID uint32 // kernel ID of the attached program
	// HookChanged (Check, TCX): a program was attached to, detached from
	// or replaced on the hook since the last check, though Axon's still
	// runs first, or no revision is recorded for it: one may have run
	// ahead of it in between, and the flows through it may have missed
	// packets.
	HookChanged bool

	ifindex  int    // the interface's index, once found (TCX)
	revision uint64 // the hook's revision after the attach or at the check (TCX)
}

// Attacher attaches programs to interfaces and keeps the pins in step.
type Attacher struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	mode Mode              // resolved mode, never ModeAuto once resolved
	revs *ebpf.Map         // the recorded TCX hook revisions, once opened (revision.go)
	seen map[revKey]uint64 // the revisions this Attacher recorded
}

// New returns an Attacher; it touches nothing until Attach.
func New(cfg Config) (*Attacher, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeAuto
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.PinDir == "" {
		return nil, errors.New("attach: empty pin directory")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Attacher{cfg: cfg, log: log}, nil
}

// Mode returns the mechanism chosen, ModeAuto until the first Attach.
func (a *Attacher) Mode() Mode {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mode == "" {
		return a.cfg.Mode
	}
	return a.mode
}

// Attach puts progs on both directions of every named interface, reusing
// pinned attachments where they exist so that there is never a moment with
// no program attached. It returns one Attachment per interface and direction;
// a failure on one interface does not stop the others, and the returned
// error joins all failures.
func (a *Attacher) Attach(ifaces []string, progs Programs) ([]Attachment, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := EnsureBPFFS(a.cfg.PinDir); err != nil {
		return nil, err
	}
	if err := ensureDirs(a.cfg.PinDir); err != nil {
		return nil, err
	}
	var out []Attachment
	var errs []error
	for _, name := range ifaces {
		for _, d := range Directions {
			at := a.attachOne(name, d, progs.forDir(d))
			if at.Err != nil {
				errs = append(errs, at.Err)
				a.log.Error("attach failed", "interface", name, "direction", d, "error", at.Err)
			} else {
				a.log.Info("attached", "interface", name, "direction", d, "mode", at.Mode,
					"adopted", at.Adopted, "program_id", at.ProgramID)
			}
			out = append(out, at)
		}
	}
	return out, errors.Join(errs...)
}

func (a *Attacher) attachOne(name string, d Direction, prog *ebpf.Program) Attachment {
	at := Attachment{Interface: name, Direction: d}
	if prog == nil {
		at.Err = fmt.Errorf("attaching to %s %s: %w", name, d, ErrNoProgram)
		return at
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		at.Err = fmt.Errorf("attaching to %s %s: %w: %v", name, d, ErrNoInterface, err)
		return at
	}
	if info, err := prog.Info(); err == nil {
		if id, ok := info.ID(); ok {
			at.ProgramID = uint32(id)
		}
	}
	mode := a.mode
	if mode == "" {
		mode = a.cfg.Mode
	}
	if mode == ModeAuto || mode == ModeTCX {
		// The record goes until RecordRevisions writes it again, after
		// the caller forgot what it must: an agent killed in between
		// leaves none, and its successor forgets the flows.
		recorded, ok := a.recordedRevision(ifc.Index, d)
		a.deleteRevision(name, ifc.Index, d)
		revs, err := attachTCX(a.cfg.PinDir, ifc, d, prog)
		switch {
		case err == nil:
			a.resolve(ModeTCX)
			at.Mode = ModeTCX
			// A clsact attachment left by an agent in the other mode would
			// run as well; drop it now that TCX is in place.
			removeCls(a.cfg.PinDir, pinName{pinCls, d, name}, a.log)
			a.checkAttached(&at, ifc.Index)
			at.Adopted = at.Err == nil && ok && revs.inStep(recorded, at.revision)
			return at
		case mode == ModeAuto && errors.Is(err, ebpf.ErrNotSupported):
			a.log.Info("tcx not supported by this kernel, using clsact", "error", err)
			a.resolve(ModeClsact)
		default:
			at.Err = fmt.Errorf("attaching tcx to %s %s: %w", name, d, err)
			return at
		}
	}
	adopted, err := attachCls(a.cfg.PinDir, ifc, d, prog)
	if err != nil {
		at.Err = fmt.Errorf("attaching cls_bpf to %s %s: %w", name, d, err)
		return at
	}
	a.resolve(ModeClsact)
	at.Mode, at.Adopted = ModeClsact, adopted
	removeTCX(a.cfg.PinDir, pinName{pinTCX, d, name}, a.log)
	a.checkAttached(&at, ifc.Index)
	return at
}

// checkAttached checks a new attachment as Check checks it later: in place,
// and first in its chain (an attachment behind another program is not
// enforcing: ErrNotFirst). It notes a TCX hook's revision for
// RecordRevisions.
func (a *Attacher) checkAttached(at *Attachment, ifindex int) {
	lk, err := netlink.LinkByIndex(ifindex)
	if err == nil {
		at.ifindex = ifindex
		at.revision, err = a.checkOne(at.Mode, lk, at.Direction, ebpf.ProgramID(at.ProgramID))
	}
	if err != nil {
		at.Err = fmt.Errorf("attaching %s to %s %s: %w", at.Mode, at.Interface, at.Direction, err)
	}
}

func (a *Attacher) resolve(m Mode) {
	if a.mode == "" {
		a.mode = m
		a.log.Info("attach mechanism chosen", "requested", a.cfg.Mode, "mode", m)
	}
}

// Prune removes pinned attachments for interfaces not in keep, so that a
// restarted agent with a different --attach list converges to it. It
// returns the attachments removed ("<kind>_<direction>_<iface>"): each one
// lifts enforcement from an interface, so each is logged as a warning.
func (a *Attacher) Prune(keep []string) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	pins, err := listPins(a.cfg.PinDir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, p := range pins {
		if want[p.iface] {
			continue
		}
		a.log.Warn("removing the attachment of an interface no longer in the attach list; it is not enforced any more",
			"interface", p.iface, "direction", p.dir, "pin", p.String())
		if err := removePin(a.cfg.PinDir, p, a.log); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p.String())
	}
	return removed, errors.Join(errs...)
}

// Cleanup detaches and unpins everything Axon attached under pinDir and then
// removes pinDir itself, including pinned maps and programs. Interfaces that
// no longer exist are skipped.
func Cleanup(pinDir string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(pinDir); os.IsNotExist(err) {
		return cleanupStrayFilters(pinDir, log)
	}
	pins, err := listPins(pinDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range pins {
		errs = append(errs, removePin(pinDir, p, log))
	}
	errs = append(errs, cleanupStrayFilters(pinDir, log))
	if err := os.RemoveAll(pinDir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", pinDir, err))
	} else {
		log.Info("removed pin directory", "path", pinDir)
	}
	return errors.Join(errs...)
}

func removePin(root string, p pinName, log *slog.Logger) error {
	if p.kind == pinTCX {
		return removeTCX(root, p, log)
	}
	return removeCls(root, p, log)
}
