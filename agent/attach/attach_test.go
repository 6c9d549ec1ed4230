package attach

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/axon-dev/axon/test/netns"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	netns.RequireRoot(t)
}

// passProg loads a TC program that lets every packet through.
func passProg(t *testing.T) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "axon_test_pass",
		Type:    ebpf.SchedCLS,
		License: "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0), // TC_ACT_OK
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatalf("loading test program: %v", err)
	}
	return p
}

func progID(t *testing.T, p *ebpf.Program) ebpf.ProgramID {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return id
}

// vethPair creates a veth pair in the current netns and returns the first end.
func vethPair(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("axat%d", rand.IntN(1e6))
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("adding veth: %v", err)
	}
	// By name: a test may delete and recreate it (another index).
	t.Cleanup(func() { _ = netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}}) })
	if err := netlink.LinkSetUp(v); err != nil {
		t.Fatal(err)
	}
	return name
}

func pinDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(DefaultBPFFS, fmt.Sprintf("axon-test-%d", rand.IntN(1e9)))
	t.Cleanup(func() { _ = Cleanup(dir, nil) })
	return dir
}

// attached returns the IDs of the programs on (iface, d) for the mode.
func attached(t *testing.T, mode Mode, iface string, d Direction) []ebpf.ProgramID {
	t.Helper()
	lk, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	if mode == ModeTCX {
		res, err := link.QueryPrograms(link.QueryOptions{Target: lk.Attrs().Index, Attach: d.tcxAttachType()})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Programs {
			ids = append(ids, p.ID)
		}
		return ids
	}
	fs, err := netlink.FilterList(lk, clsParent(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok {
			ids = append(ids, ebpf.ProgramID(bf.Id))
		}
	}
	return ids
}

// needMode skips a TCX test on kernels without TCX (before Linux 6.6).
func needMode(t *testing.T, mode Mode) {
	t.Helper()
	if mode == ModeTCX && !kernelAtLeast(t, 6, 6) {
		t.Skip("needs TCX links (Linux >= 6.6)")
	}
}

func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("parsing kernel release: %v", err)
	}
	return ma > major || (ma == major && mi >= minor)
}

func TestAutoModeUsesTCXWhereTheKernelHasIt(t *testing.T) {
	needRoot(t)
	iface := vethPair(t)
	a, _ := New(Config{PinDir: pinDir(t), Mode: ModeAuto})
	p := passProg(t)
	defer p.Close()
	ats, err := a.Attach([]string{iface}, Programs{Ingress: p, Egress: p})
	if err != nil {
		t.Fatal(err)
	}
	want := ModeClsact
	if kernelAtLeast(t, 6, 6) {
		want = ModeTCX
	}
	for _, at := range ats {
		if at.Mode != want {
			t.Errorf("%s: auto chose %q, want %q on this kernel", at.Direction, at.Mode, want)
		}
		if got := attached(t, want, iface, at.Direction); len(got) != 1 || got[0] != progID(t, p) {
			t.Errorf("%s: attached %v, want the program", at.Direction, got)
		}
	}
	if a.Mode() != want {
		t.Errorf("Mode() = %q, want %q", a.Mode(), want)
	}
}

func TestAttachAdoptCleanup(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeTCX, ModeClsact} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			iface := vethPair(t)
			dir := pinDir(t)

			// First agent: attaches and exits (its program FD is closed).
			a, err := New(Config{PinDir: dir, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			p1 := passProg(t)
			ats, err := a.Attach([]string{iface}, Programs{Ingress: p1, Egress: p1})
			if err != nil {
				t.Fatalf("attach: %v", err)
			}
			for _, at := range ats {
				if at.Mode != mode || at.Adopted {
					t.Errorf("%s: mode %q adopted %v, want %q fresh", at.Direction, at.Mode, at.Adopted, mode)
				}
			}
			a.RecordRevisions(ats)
			id1 := progID(t, p1)
			p1.Close()
			for _, d := range Directions {
				if got := attached(t, mode, iface, d); len(got) != 1 || got[0] != id1 {
					t.Fatalf("%s after agent exit: attached %v, want [%d]", d, got, id1)
				}
			}

			// Restarted agent: adopts the pinned state and swaps its program in.
			b, _ := New(Config{PinDir: dir, Mode: mode})
			p2 := passProg(t)
			defer p2.Close()
			ats, err = b.Attach([]string{iface}, Programs{Ingress: p2, Egress: p2})
			if err != nil {
				t.Fatalf("re-attach: %v", err)
			}
			for _, at := range ats {
				if !at.Adopted {
					t.Errorf("%s: restarted agent did not adopt the pinned attachment", at.Direction)
				}
			}
			id2 := progID(t, p2)
			for _, d := range Directions {
				if got := attached(t, mode, iface, d); len(got) != 1 || got[0] != id2 {
					t.Fatalf("%s after restart: attached %v, want only [%d]", d, got, id2)
				}
			}

			if err := Cleanup(dir, nil); err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			for _, d := range Directions {
				if got := attached(t, mode, iface, d); len(got) != 0 {
					t.Errorf("%s after cleanup: still attached %v", d, got)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("pin directory %s still exists after cleanup", dir)
			}
		})
	}
}

func TestAttachMissingInterface(t *testing.T) {
	needRoot(t)
	a, _ := New(Config{PinDir: pinDir(t)})
	p := passProg(t)
	defer p.Close()
	ats, err := a.Attach([]string{"axon-nosuch0"}, Programs{Ingress: p, Egress: p})
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("attach to a missing interface: err %v, want ErrNoInterface", err)
	}
	for _, at := range ats {
		if at.Err == nil || at.Mode != "" {
			t.Errorf("%s reported as attached (%q) to a missing interface", at.Direction, at.Mode)
		}
	}
}

func TestPruneRemovesOtherInterfaces(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeTCX, ModeClsact} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			testPrune(t, mode)
		})
	}
}

func testPrune(t *testing.T, mode Mode) {
	keep, drop := vethPair(t), vethPair(t)
	dir := pinDir(t)
	a, _ := New(Config{PinDir: dir, Mode: mode})
	p := passProg(t)
	defer p.Close()
	if _, err := a.Attach([]string{keep, drop}, Programs{Ingress: p, Egress: p}); err != nil {
		t.Fatal(err)
	}
	removed, err := a.Prune([]string{keep})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("Prune reported %v removed, want the two directions of %s", removed, drop)
	}
	if again, err := a.Prune([]string{keep}); err != nil || len(again) != 0 {
		t.Errorf("a second Prune removed %v (%v), want nothing", again, err)
	}
	for _, d := range Directions {
		if got := attached(t, mode, drop, d); len(got) != 0 {
			t.Errorf("%s of pruned %s still has %v", d, drop, got)
		}
		if got := attached(t, mode, keep, d); len(got) != 1 {
			t.Errorf("%s of kept %s has %v, want one program", d, keep, got)
		}
	}
}

func TestStrayFilterCleanup(t *testing.T) {
	needRoot(t)
	iface := vethPair(t)
	dir := pinDir(t)
	a, _ := New(Config{PinDir: dir, Mode: ModeClsact})
	p := passProg(t)
	defer p.Close()
	if _, err := a.Attach([]string{iface}, Programs{Ingress: p, Egress: p}); err != nil {
		t.Fatal(err)
	}
	// Lose the pin records, as when bpffs was remounted.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range Directions {
		if got := attached(t, ModeClsact, iface, d); len(got) != 0 {
			t.Errorf("%s still has %v after cleanup without pins", d, got)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "tcx", "clsact"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := ParseMode("xdp"); !errors.Is(err, ErrBadMode) {
		t.Errorf("ParseMode(xdp): %v, want ErrBadMode", err)
	}
}

func TestPinNameRoundTrip(t *testing.T) {
	for _, p := range []pinName{{pinTCX, Ingress, "eth0"}, {pinCls, Egress, "veth_a_b"}} {
		got, ok := parsePinName(p.String())
		if !ok || got != p {
			t.Errorf("parsePinName(%q) = %+v %v", p.String(), got, ok)
		}
	}
	for _, s := range []string{"tcx_ingress_", "foo_ingress_eth0", "tcx_sideways_eth0", "maps"} {
		if _, ok := parsePinName(s); ok {
			t.Errorf("parsePinName(%q) accepted", s)
		}
	}
}

func TestCheckNoticesRecreatedInterface(t *testing.T) {
	needRoot(t)
	for _, mode := range []Mode{ModeTCX, ModeClsact} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			a, iface, progs := attachedPass(t, mode)
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Fatalf("%s: Check right after Attach: %v", at.Direction, at.Err)
				}
			}
			// Recreate the interface: the kernel drops what was attached.
			if err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: iface}}); err != nil {
				t.Fatal(err)
			}
			for _, at := range a.Check([]string{iface}, progs) {
				if !errors.Is(at.Err, ErrNoInterface) {
					t.Errorf("%s: Check while the interface is gone: %v, want ErrNoInterface", at.Direction, at.Err)
				}
			}
			v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: iface}, PeerName: iface + "p"}
			if err := netlink.LinkAdd(v); err != nil {
				t.Fatal(err)
			}
			for _, at := range a.Check([]string{iface}, progs) {
				if !errors.Is(at.Err, ErrDetached) {
					t.Errorf("%s: Check after the interface was recreated: %v, want ErrDetached", at.Direction, at.Err)
				}
			}
			if _, err := a.Attach([]string{iface}, progs); err != nil {
				t.Fatal(err)
			}
			for _, at := range a.Check([]string{iface}, progs) {
				if at.Err != nil {
					t.Errorf("%s: Check after re-attaching: %v", at.Direction, at.Err)
				}
			}
		})
	}
}

// attachedPass attaches a pass-all program (passProg) in mode to both
// directions of a new veth, and returns the attacher, the interface and
// the programs.
func attachedPass(t *testing.T, mode Mode) (*Attacher, string, Programs) {
	t.Helper()
	iface := vethPair(t)
	a, _ := New(Config{PinDir: pinDir(t), Mode: mode})
	p := passProg(t)
	t.Cleanup(func() { p.Close() })
	progs := Programs{Ingress: p, Egress: p}
	ats, err := a.Attach([]string{iface}, progs)
	if err != nil {
		t.Fatal(err)
	}
	a.RecordRevisions(ats) // as the agent does, once it forgot the interface's flows
	return a, iface, progs
}
