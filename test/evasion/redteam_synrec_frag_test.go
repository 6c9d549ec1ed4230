package evasion

import (
	"testing"
)

// TestRedteamSynRecordPlantedFragSyn (rule 2 + class 34, red team rt36):
// TestRedteamGapFragSynDeletedFlow (rt35) again on current main, with one
// more packet first: a data-less SYN, bad TCP checksum, at seq = ISN +
// len(head), which ax_stream records in syns (ISN + len, this device) and
// the server drops. The fast-open SYN in IPv4 fragments (an audit gap at
// t_g) is taken by the server; its SYN-ACK acknowledges ISN + 1 + len(head)
// == record + 1, so the flows it starts are "in step" (unparsed = 0). Bad-
// checksum RSTs at the flow's next byte delete the flow before the 1 s and
// 3 s retransmissions (as rt35), so the last one starts a flow born after
// t_g + 1 s, which no gap touches. ACK: established while Audit-only.
// Switch to Enforce, ACK + "\r\n\r\n" at ISN + 1 + len: the server ends
// the held head and runs GET /api/admin/<tok>.
//
// Control: rt35's attack as is on another connection (the same fragmented
// fast-open SYN and flow-deleting RSTs, no planted SYN): refused (no_flow)
// after the switch.
func TestRedteamSynRecordPlantedFragSyn(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.76", "fd76", 2)
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=0x403")
	tp.policy("Audit", "")
	srvs := append([]server{startGoTFO(t, tp.srv, goPort)}, tp.servers("nginx", "python")...)
	fragSynAcrossEnforce(t, tp, srvs, false, true)
}
