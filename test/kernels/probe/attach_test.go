package probe

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// vethPair is a veth pair between two fresh network namespaces: a (10.199.0.1) sends,
// b (10.199.0.2) receives and carries the probe on its ingress.
type vethPair struct {
	a, b     netns.NsHandle
	hb       *netlink.Handle
	bIfindex int
}

func newVethPair(t *testing.T) *vethPair {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("getting current netns: %v", err)
	}
	defer orig.Close()
	defer netns.Set(orig)
	v := &vethPair{}
	if v.a, err = netns.New(); err != nil {
		t.Fatalf("creating netns: %v", err)
	}
	t.Cleanup(func() { v.a.Close() })
	if v.b, err = netns.New(); err != nil {
		t.Fatalf("creating netns: %v", err)
	}
	t.Cleanup(func() { v.b.Close() })
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}

	ha, err := netlink.NewHandleAt(v.a, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	if v.hb, err = netlink.NewHandleAt(v.b, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.hb.Close)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "axp0"}, PeerName: "axp1", PeerNamespace: netlink.NsFd(v.b)}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth pair (veth module loaded?): %v", err)
	}
	for _, side := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{ha, "axp0", "10.199.0.1/24"}, {v.hb, "axp1", "10.199.0.2/24"}} {
		l, err := side.h.LinkByName(side.name)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := netlink.ParseAddr(side.addr)
		if err := side.h.AddrAdd(l, addr); err != nil {
			t.Fatalf("adding %s: %v", side.addr, err)
		}
		if err := side.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		if side.name == "axp1" {
			v.bIfindex = l.Attrs().Index
		}
	}
	return v
}

// inNS runs fn on a thread switched into ns; sockets and TCX ifindexes resolve there.
func inNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return fn()
}

// attachTCX attaches the probe on b's ingress with a TCX link.
func (v *vethPair) attachTCX(prog *ebpf.Program) (link.Link, error) {
	var l link.Link
	err := inNS(v.b, func() (err error) {
		l, err = link.AttachTCX(link.TCXOptions{Interface: v.bIfindex, Program: prog, Attach: ebpf.AttachTCXIngress})
		return err
	})
	return l, err
}

// attachClsact attaches the probe on b's ingress with a clsact qdisc and a direct-action
// cls_bpf filter (needs sch_ingress and cls_bpf).
func (v *vethPair) attachClsact(prog *ebpf.Program) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: v.bIfindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := v.hb.QdiscReplace(qdisc); err != nil {
		return fmt.Errorf("adding clsact qdisc: %w", err)
	}
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: v.bIfindex, Parent: netlink.HANDLE_MIN_INGRESS, Handle: 1,
			Protocol: unix.ETH_P_ALL, Priority: 1,
		},
		Fd: prog.FD(), Name: "axon_probe", DirectAction: true,
	}
	if err := v.hb.FilterReplace(filter); err != nil {
		return fmt.Errorf("adding cls_bpf filter: %w", err)
	}
	return nil
}

// exchange sends each payload from a to b over UDP and reports which ones b received.
func (v *vethPair) exchange(t *testing.T, payloads []string) map[string]bool {
	t.Helper()
	var rx *net.UDPConn
	if err := inNS(v.b, func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 199, 0, 2), Port: 9999})
		return err
	}); err != nil {
		t.Fatalf("listening in b: %v", err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if err := inNS(v.a, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 199, 0, 2), Port: 9999})
		return err
	}); err != nil {
		t.Fatalf("dialing from a: %v", err)
	}
	defer tx.Close()
	got := map[string]bool{}
	for _, p := range payloads {
		if _, err := tx.Write([]byte(p)); err != nil {
			t.Fatalf("sending %q: %v", p, err)
		}
	}
	// Generous: TCG guests are slow. Every payload that is not dropped arrives well inside it.
	rx.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, err := rx.Read(buf)
		if err != nil {
			break
		}
		got[string(buf[:n])] = true
		// veth keeps order: once the last payload is here, every earlier one that
		// passed is here too.
		if string(buf[:n]) == payloads[len(payloads)-1] {
			break
		}
	}
	return got
}

func checkTraffic(t *testing.T, v *vethPair, p *Program) {
	t.Helper()
	drops0, _ := p.Count(slotDrop)
	got := v.exchange(t, []string{"GET one", "DROP two", "GET three"})
	if !got["GET one"] || !got["GET three"] {
		t.Errorf("passed payloads did not arrive: got %v", got)
	}
	if got["DROP two"] {
		t.Errorf("payload starting with D arrived although the probe drops it")
	}
	drops, err := p.Count(slotDrop)
	if err != nil {
		t.Fatal(err)
	}
	if drops-drops0 != 1 {
		t.Errorf("drop counter moved by %d, want 1", drops-drops0)
	}
}

// TestAttachClsact attaches with clsact + cls_bpf, the method for kernels before 6.6.
func TestAttachClsact(t *testing.T) {
	needRoot(t)
	p := loadProbe(t)
	v := newVethPair(t)
	if err := v.attachClsact(p.Prog); err != nil {
		t.Fatal(err)
	}
	checkTraffic(t, v, p)
}

// TestAttachTCX attaches with a TCX link where the kernel has TCX (6.6+), and checks that
// the kernel reports it unsupported below 6.6, so feature detection can rely on the error.
func TestAttachTCX(t *testing.T) {
	needRoot(t)
	major, minor, release, err := KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	p := loadProbe(t)
	v := newVethPair(t)
	l, err := v.attachTCX(p.Prog)
	want := AtLeast(major, minor, 6, 6)
	if errors.Is(err, ebpf.ErrNotSupported) {
		fmt.Println("AXON-FEATURE attach_tcx=no")
		if want {
			t.Fatalf("TCX reported unsupported on %s (>= 6.6): %v", release, err)
		}
		t.Skipf("no TCX on %s: clsact + cls_bpf is the attach method here", release)
	}
	if err != nil {
		t.Fatalf("attaching TCX: %v", err)
	}
	defer l.Close()
	fmt.Println("AXON-FEATURE attach_tcx=yes")
	if !want {
		t.Errorf("TCX attached on %s, below 6.6", release)
	}
	checkTraffic(t, v, p)
}
