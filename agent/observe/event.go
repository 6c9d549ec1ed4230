package observe

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/axon-dev/axon/bpf"
)

// Event types and directions, as bpf/include/sock_maps.h defines them.
const (
	evData  = 1
	evClose = 2

	dirRead  = 1 // the monitored process received the bytes
	dirWrite = 2 // the monitored process sent the bytes

	flagCont = 1 // the buffer continues a message (AXS_F_CONT)

	afInet  = 2
	afInet6 = 10
)

// headerSize is the size of struct axs_event without its data.
const headerSize = 80

// Event is one decoded ring-buffer record.
type Event struct {
	Type   uint8
	Dir    uint8
	Cont   bool // the buffer starts no message: it continues one (a body)
	LPort  uint16
	RPort  uint16
	Netns  uint32
	TGID   uint32
	Seq    uint32 // per-connection event number from 1
	Total  uint32 // bytes the syscall moved; Data may be shorter
	TS     uint64 // kernel monotonic nanoseconds
	Conn   uint64
	LAddr  netip.Addr
	RAddr  netip.Addr
	Data   []byte
	family uint8
}

var errShortEvent = errors.New("short observer event")

// decodeEvent parses a raw record (struct axs_event, little endian). Data
// aliases raw.
func decodeEvent(raw []byte) (Event, error) {
	if len(raw) < headerSize {
		return Event{}, errShortEvent
	}
	le := binary.LittleEndian
	e := Event{
		Type: raw[0], Dir: raw[1], family: raw[2], Cont: raw[3]&flagCont != 0,
		LPort: le.Uint16(raw[4:]), RPort: le.Uint16(raw[6:]),
		Netns: le.Uint32(raw[8:]), TGID: le.Uint32(raw[12:]), Seq: le.Uint32(raw[16:]),
		Total: le.Uint32(raw[20:]),
		TS:    le.Uint64(raw[32:]), Conn: le.Uint64(raw[40:]),
	}
	capLen := int(le.Uint32(raw[24:]))
	if capLen > len(raw)-headerSize || capLen > len(bpf.AxonSockAxsEvent{}.Data) {
		return Event{}, errShortEvent
	}
	e.Data = raw[headerSize : headerSize+capLen]
	e.LAddr = addrOf(e.family, raw[48:64])
	e.RAddr = addrOf(e.family, raw[64:80])
	return e, nil
}

func addrOf(family uint8, b []byte) netip.Addr {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[:4]))
	case afInet6:
		return netip.AddrFrom16([16]byte(b[:16])).Unmap()
	}
	return netip.Addr{}
}
