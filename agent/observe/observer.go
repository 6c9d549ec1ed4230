package observe

import (
	"errors"
	"fmt"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// Stat indexes the BPF program's counters (enum axs_stat).
type Stat uint32

// The BPF counters, as enum axs_stat numbers them.
const (
	StatRingbufFull Stat = 0 // events dropped: ring buffer full
	StatHeldFull    Stat = 1 // short reads not kept: table full
	StatNoSocket    Stat = 2 // HTTP-looking bytes on an fd that is no TCP socket
	StatReadFault   Stat = 3 // user buffer unreadable
	StatEvents      Stat = 4 // events sent
	numStats             = 8
)

// hooks are the BTF-typed raw tracepoints the observer attaches to.
var hooks = []string{"sys_enter", "sys_exit"}

// Programs is the loaded observer: its maps and programs, attached or not.
type Programs struct {
	objs  bpf.AxonSockObjects
	links []link.Link
}

// Load loads the observer's programs and maps into the kernel without
// attaching them.
func Load() (*Programs, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
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

// Attach attaches the programs to the sys_enter and sys_exit raw
// tracepoints. From then on every syscall of every process runs them: their
// first work is a switch on the syscall number, then the namespace filter.
func (p *Programs) Attach() error {
	if len(p.links) > 0 {
		return nil
	}
	for _, pr := range []*ebpf.Program{p.objs.AxsSysEnter, p.objs.AxsSysExit} {
		l, err := link.AttachTracing(link.TracingOptions{Program: pr})
		if err != nil {
			p.Detach()
			return fmt.Errorf("attaching %s: %w", pr, err)
		}
		p.links = append(p.links, l)
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

// Bounds of the monitored-namespace bitmap (bpf/include/sock_sizing.h).
const (
	netnsDynFirst = 0xF0000000
	netnsBits     = 1 << 20
)

// SetNetns makes the set of monitored network namespaces (inode numbers)
// exactly want: inodes in the bitmap's range are bits of axs_netns_bits,
// others keys of axs_netns. Inodes of the host's static namespaces are
// ignored: they are never monitored.
func (p *Programs) SetNetns(want map[uint32]bool) error {
	words := make([]uint64, netnsBits/64)
	hashed := map[uint32]bool{}
	for ino := range want {
		switch {
		case ino < netnsDynFirst:
		case ino-netnsDynFirst < netnsBits:
			i := ino - netnsDynFirst
			words[i/64] |= 1 << (i % 64)
		default:
			hashed[ino] = true
		}
	}
	// Write only the words that change, so a running program never sees
	// a bit of an unchanged namespace flicker.
	prev := make([]uint64, len(words))
	keys := make([]uint32, len(words))
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := p.objs.AxsNetnsBits.BatchLookup(new(ebpf.MapBatchCursor), keys, prev, nil); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		// Batch operations may be missing (old kernels): read one by one.
		for i := range keys {
			if err := p.objs.AxsNetnsBits.Lookup(keys[i], &prev[i]); err != nil {
				return fmt.Errorf("reading monitored namespaces: %w", err)
			}
		}
	}
	for i := range words {
		if words[i] != prev[i] {
			if err := p.objs.AxsNetnsBits.Put(uint32(i), words[i]); err != nil {
				return fmt.Errorf("writing monitored namespaces: %w", err)
			}
		}
	}
	m := p.objs.AxsNetns
	var k, v uint32
	var stale []uint32
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !hashed[k] {
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
	for k := range hashed {
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
