package evasion

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"
)

// ipv4WithOptions is f's IPv4 packet carrying the TCP segment s, with the
// IPv4 options opts (padded with EOL to 4 bytes) in its header.
func ipv4WithOptions(f *Flow, s Segment, opts []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	s.SrcPort, s.DstPort = f.Local.Port(), f.Remote.Port()
	tcp := s.Marshal(f.Local.Addr(), f.Remote.Addr())
	hl := 20 + len(opts)
	b := make([]byte, hl+len(tcp))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], uint16(rand.Uint32()))
	b[8] = 64
	b[9] = ProtoTCP
	s4, d4 := f.Local.Addr().As4(), f.Remote.Addr().As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	copy(b[20:], opts)
	binary.BigEndian.PutUint16(b[10:], Checksum(b[:hl]))
	copy(b[hl:], tcp)
	return b
}

// TestRedteamIPv4Options: IPv4 options in the attacker's data segments.
// Options the server's stack accepts (NOPs, Router Alert, a timestamp)
// must not hide a denied request from the datapath; options it discards
// the packet for (loose and strict source routes with
// accept_source_route 0, an option whose length runs past the header)
// make an insertion: the datapath parses an allowed request line the
// server never gets, and the attacker then sends the denied one in the
// same sequence space, without options, three times. The denied request
// must never run.
func TestRedteamIPv4Options(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 7)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	srv4 := tp.srv.Addr.As4()
	rr := append([]byte{0x07, 11, 4}, make([]byte, 8)...) // record route, 2 slots
	lsrr := append([]byte{0x83, 7, 4}, srv4[:]...)
	ssrr := append([]byte{0x89, 7, 4}, srv4[:]...)
	ts := append([]byte{0x44, 12, 5, 0}, make([]byte, 8)...) // timestamps only, 2 slots
	direct := map[string][]byte{
		"nops-40":      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		"router-alert": {0x94, 4, 0, 0},
		"timestamp":    ts,
		"record-route": rr,
	}
	insert := map[string][]byte{
		"lsrr":        lsrr,
		"ssrr":        ssrr,
		"bad-opt-len": {0x07, 40, 4, 0},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for name, opts := range direct {
			bad := token("optbad")
			f := tp.rawFlow(s.Port(), false)
			must(t, f.Handshake(nil, 2*time.Second))
			line := []byte("GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n")
			must(t, f.SendIP(ipv4WithOptions(f, Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: line}, opts)))
			resp, rst := f.Response("\r\n\r\n", time.Second)
			f.Abort()
			expectNeverRun(t, s, bad, "a denied request under IPv4 option "+name+" ("+describe(resp, rst)+")")
		}
		for name, opts := range insert {
			ok, bad := token("optok"), token("optbad")
			f := tp.rawFlow(s.Port(), false)
			must(t, f.Handshake(nil, 2*time.Second))
			good := []byte("GET /api/v1/" + ok + "xxxx HTTP/1.1\r\nHost: srv\r\n\r\n")
			line := []byte("GET /api/admin/" + bad + " HTTP/1.1\r\nHost: srv\r\n\r\n")
			if len(good) != len(line) {
				t.Fatalf("lengths differ: %d %d", len(good), len(line))
			}
			must(t, f.SendIP(ipv4WithOptions(f, Segment{Seq: f.ISN + 1, Ack: f.SrvISN + 1, Flags: ACK | PSH, Payload: good}, opts)))
			time.Sleep(50 * time.Millisecond)
			for i := 0; i < 3; i++ {
				must(t, f.Data(f.ISN+1, line))
				time.Sleep(250 * time.Millisecond)
			}
			resp, rst := f.Response("\r\n\r\n", 500*time.Millisecond)
			f.Abort()
			t.Logf("%s %s: allowed copy logged %v; %s", s.Name(), name, logged(s, ok), describe(resp, rst))
			expectNeverRun(t, s, bad, "a denied request after an allowed copy under IPv4 option "+name+" ("+describe(resp, rst)+")")
		}
	})
}
