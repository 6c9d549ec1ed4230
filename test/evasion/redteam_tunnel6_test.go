package evasion

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// TestRedteamPodTunnelDevice: a VXLAN device in the server pod's namespace
// (VNI 42, UDP 4789 on the pod's address; created by the pod, which needs
// CAP_NET_ADMIN there; this kernel has no ipip or sit). The attacker sends
// its TCP segments to the pod inside VXLAN (an Ethernet frame to the VXLAN
// device's MAC, in UDP): not TCP to the TC program, and decapsulated by
// the pod's stack, which takes the inner packet for the pod's eth0 address
// (weak host model), into a connection to the Go server. The server's
// replies go out natively. docs/security.md puts "tunnels the pod
// terminates itself" out of scope; this test records that it is a bypass
// when a pod has such a device. It skips when the kernel has no VXLAN.
func TestRedteamPodTunnelDevice(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 8)
	tp.policy("Enforce", "")
	s := tp.servers("go")[0]
	if out, err := tp.srv.Run(t.Context(), "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "dstport", "4789",
		"local", tp.srv.Addr.String(), "dev", "eth0"); err != nil {
		t.Skipf("no vxlan device here: %v %s", err, out)
	}
	tp.run(tp.srv, "ip", "link", "set", "vx0", "up")
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vx0.rp_filter=0")
	vxMAC := tp.macOf(tp.srv, "vx0")
	tp.startAgent()
	f := tp.rawFlow(goPort, false)
	encap := func(seg Segment) []byte {
		seg.SrcPort, seg.DstPort = f.Local.Port(), f.Remote.Port()
		inner := IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: 1}.Marshal(seg.Marshal(f.Local.Addr(), f.Remote.Addr()))
		frame := Ethernet(vxMAC, f.Link.MAC, nil, EtherIPv4, inner)
		vx := append([]byte{0x08, 0, 0, 0, 0, 0, 42, 0}, frame...)
		udp := make([]byte, 8, 8+len(vx))
		binary.BigEndian.PutUint16(udp[0:], 40000)
		binary.BigEndian.PutUint16(udp[2:], 4789)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(vx)))
		udp = append(udp, vx...) // checksum 0: none (IPv4)
		return IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: 17, ID: 2}.Marshal(udp)
	}
	must(t, f.SendIP(encap(Segment{Seq: f.ISN, Flags: SYN, Options: MSSOption(1400)})))
	deadline := time.After(2 * time.Second)
	var srvISN uint32
wait:
	for {
		select {
		case p := <-f.in:
			if p.Flags&(SYN|ACK) == SYN|ACK && p.Ack == f.ISN+1 {
				srvISN = p.Seq
				break wait
			}
		case <-deadline:
			t.Logf("no SYN-ACK for a tunnelled SYN: the pod did not decapsulate it")
			return
		}
	}
	f.adopt(f.ISN, srvISN)
	must(t, f.SendIP(encap(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK})))
	bad := token("tunnelbad")
	must(t, f.SendIP(encap(Segment{Seq: f.ISN + 1, Ack: srvISN + 1, Flags: ACK | PSH,
		Payload: []byte("GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n")})))
	resp, rst := f.Response("\r\n\r\n", 2*time.Second)
	t.Logf("tunnelled request: %s; server log: %s", describe(resp, rst), strings.Join(s.Log(), "; "))
	expectNever(t, s, bad, "GET /api/admin in VXLAN to a pod with a VXLAN device ("+describe(resp, rst)+")")
}

// macOf is the MAC address of dev in h.
func (tp *topo) macOf(h *netns.Host, dev string) net.HardwareAddr {
	tp.t.Helper()
	out := tp.run(h, "cat", "/sys/class/net/"+dev+"/address")
	m, err := net.ParseMAC(strings.TrimSpace(out))
	if err != nil {
		tp.t.Fatalf("MAC of %s: %v", dev, err)
	}
	return m
}
