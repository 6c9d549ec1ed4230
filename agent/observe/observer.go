package observe

import (
	"errors"
	"fmt"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// Stat indexes the BPF program's counters (enum axs_stat).
type Stat uint32

// The BPF counters, as enum axs_stat numbers them.
const (
	StatRingbufFull Stat = 0 // events dropped: ring buffer full
	StatPendingFull Stat = 1 // reads not followed: in-flight table full
	StatNoSocket    Stat = 2 // HTTP-looking bytes on an fd that is no TCP socket
	StatReadFault   Stat = 3 // user buffer unreadable
	StatEvents      Stat = 4 // events sent
	numStats             = 8
)

// tracepoints maps each syscall tracepoint to its program.
var tracepoints = []struct{ name, prog string }{
	{"sys_enter_read", bpf.AxonSockProgAxsEnterReadPlain},
	{"sys_exit_read", bpf.AxonSockProgAxsExitReadPlain},
	{"sys_enter_recvfrom", bpf.AxonSockProgAxsEnterRecvfrom},
	{"sys_exit_recvfrom", bpf.AxonSockProgAxsExitRecvfrom},
	{"sys_enter_readv", bpf.AxonSockProgAxsEnterReadv},
	{"sys_exit_readv", bpf.AxonSockProgAxsExitReadv},
	{"sys_enter_recvmsg", bpf.AxonSockProgAxsEnterRecvmsg},
	{"sys_exit_recvmsg", bpf.AxonSockProgAxsExitRecvmsg},
	{"sys_enter_write", bpf.AxonSockProgAxsEnterWritePlain},
	{"sys_enter_sendto", bpf.AxonSockProgAxsEnterSendto},
	{"sys_enter_writev", bpf.AxonSockProgAxsEnterWritev},
	{"sys_enter_sendmsg", bpf.AxonSockProgAxsEnterSendmsg},
	{"sys_enter_close", bpf.AxonSockProgAxsEnterClose},
}

// Programs is the loaded observer: its maps and programs, attached or not.
type Programs struct {
	objs  bpf.AxonSockObjects
	links []link.Link
}

// Load loads the observer's programs and maps into the kernel without
// attaching them.
func Load() (*Programs, error) {
	p := &Programs{}
	if err := bpf.LoadAxonSockObjects(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading socket observer: %+v", ve)
		}
		return nil, fmt.Errorf("loading socket observer: %w", err)
	}
	return p, nil
}

// Attach attaches every program to its syscall tracepoint. From then on
// every process on the host pays the filter on those syscalls.
func (p *Programs) Attach() error {
	if len(p.links) > 0 {
		return nil
	}
	for _, tp := range tracepoints {
		pr := p.program(tp.prog)
		if pr == nil {
			return fmt.Errorf("attaching %s: no program %s", tp.name, tp.prog)
		}
		l, err := link.Tracepoint("syscalls", tp.name, pr, nil)
		if err != nil {
			p.Detach()
			return fmt.Errorf("attaching %s: %w", tp.name, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// program returns the loaded program called name.
func (p *Programs) program(name string) *ebpf.Program {
	o := &p.objs.AxonSockPrograms
	switch name {
	case bpf.AxonSockProgAxsEnterReadPlain:
		return o.AxsEnterReadPlain
	case bpf.AxonSockProgAxsExitReadPlain:
		return o.AxsExitReadPlain
	case bpf.AxonSockProgAxsEnterRecvfrom:
		return o.AxsEnterRecvfrom
	case bpf.AxonSockProgAxsExitRecvfrom:
		return o.AxsExitRecvfrom
	case bpf.AxonSockProgAxsEnterReadv:
		return o.AxsEnterReadv
	case bpf.AxonSockProgAxsExitReadv:
		return o.AxsExitReadv
	case bpf.AxonSockProgAxsEnterRecvmsg:
		return o.AxsEnterRecvmsg
	case bpf.AxonSockProgAxsExitRecvmsg:
		return o.AxsExitRecvmsg
	case bpf.AxonSockProgAxsEnterWritePlain:
		return o.AxsEnterWritePlain
	case bpf.AxonSockProgAxsEnterSendto:
		return o.AxsEnterSendto
	case bpf.AxonSockProgAxsEnterWritev:
		return o.AxsEnterWritev
	case bpf.AxonSockProgAxsEnterSendmsg:
		return o.AxsEnterSendmsg
	case bpf.AxonSockProgAxsEnterClose:
		return o.AxsEnterClose
	}
	return nil
}

// Attached reports whether the programs are attached.
func (p *Programs) Attached() bool { return len(p.links) > 0 }

// Detach removes the programs from the tracepoints; maps stay.
func (p *Programs) Detach() {
	for _, l := range p.links {
		_ = l.Close()
	}
	p.links = nil
}

// Close detaches and unloads everything.
func (p *Programs) Close() error {
	p.Detach()
	return p.objs.Close()
}

// SetNetns makes the set of monitored network namespaces (inode numbers)
// exactly want: missing ones are added, others removed.
func (p *Programs) SetNetns(want map[uint32]bool) error {
	m := p.objs.AxsNetns
	var k, v uint32
	var stale []uint32
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading monitored namespaces: %w", err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing namespace %d: %w", k, err)
		}
	}
	for k := range want {
		if err := m.Put(k, uint32(1)); err != nil {
			return fmt.Errorf("adding namespace %d: %w", k, err)
		}
	}
	return nil
}

// Stats returns the BPF counters summed over CPUs, indexed by Stat.
func (p *Programs) Stats() ([numStats]uint64, error) {
	var out [numStats]uint64
	for i := range uint32(numStats) {
		var per []uint64
		if err := p.objs.AxsStats.Lookup(i, &per); err != nil {
			return out, fmt.Errorf("reading observer counters: %w", err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// NewReader opens a reader on the event ring buffer.
func (p *Programs) NewReader() (*ringbuf.Reader, error) {
	r, err := ringbuf.NewReader(p.objs.AxsEvents)
	if err != nil {
		return nil, fmt.Errorf("opening observer ring buffer: %w", err)
	}
	return r, nil
}
