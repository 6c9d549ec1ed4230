package observe

import (
	"errors"
	"fmt"
	"slices"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Stat indexes the BPF program's counters (enum axs_stat).
type Stat uint32

// The BPF counters, as enum axs_stat numbers them.
const (
	StatRingbufFull Stat = 0 // events dropped: ring buffer full
	StatHeldFull    Stat = 1 // short reads not kept: table full
	StatReadFault   Stat = 3 // user buffer unreadable
	StatEvents      Stat = 4 // events sent
	numStats             = 8
)

// Hooks names the set of hooks the observer runs on.
type Hooks string

const (
	// HooksAuto picks HooksTCP where the kernel loads and attaches it, else
	// HooksSocket where the kernel has its tracepoints (Linux 6.3+), else
	// HooksSyscall.
	HooksAuto Hooks = ""
	// HooksTCP runs on the return of the kernel's tcp_recvmsg and
	// tcp_sendmsg (fexit: BTF trampolines, and Linux 5.17+ for its
	// helpers): only TCP reads and writes run it. Some kernels refuse
	// tracing programs on functions (this project's build machine does).
	HooksTCP Hooks = "tcp"
	// HooksSocket runs on the kernel's socket read and write tracepoints
	// (sock_recv_length, sock_send_length): only tasks doing socket I/O run
	// them.
	HooksSocket Hooks = "socket"
	// HooksSyscall runs on every syscall's return (sys_exit) and finds the
	// socket through the fd table: the fallback for older kernels.
	HooksSyscall Hooks = "syscall"
)

// ParseHooks parses the agent's --observe-hooks value: auto, tcp, socket
// or syscall.
func ParseHooks(s string) (Hooks, error) {
	switch s {
	case "auto":
		return HooksAuto, nil
	case string(HooksTCP), string(HooksSocket), string(HooksSyscall):
		return Hooks(s), nil
	}
	return HooksAuto, fmt.Errorf("--observe-hooks %q: want auto, tcp, socket or syscall", s)
}

// programsOf are the programs (and so the hooks, their section names) of
// each set of hooks; every set also ends connections on
// inet_sock_set_state.
var programsOf = map[Hooks][]string{
	HooksTCP:     {"axs_tcp_recv", "axs_tcp_send", "axs_sock_state"},
	HooksSocket:  {"axs_sock_recv", "axs_sock_send", "axs_sock_state"},
	HooksSyscall: {"axs_sys_exit", "axs_sock_state"},
}

// socketHooksAvailable reports whether the running kernel has the socket
// read and write tracepoints (Linux 6.3+), from its BTF.
func socketHooksAvailable() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	for _, name := range []string{"btf_trace_sock_recv_length", "btf_trace_sock_send_length"} {
		if _, err := spec.AnyTypeByName(name); err != nil {
			return false
		}
	}
	return true
}

// Programs is the loaded observer: its maps and programs, attached or not.
type Programs struct {
	hooks    Hooks
	fallback error // why HooksAuto did not pick HooksTCP
	maps     bpf.AxonSockMaps
	coll     *ebpf.Collection
	progs    map[string]*ebpf.Program
	links    []link.Link
}

// Load loads the observer's programs for the hooks (HooksAuto: the best the
// kernel has) and its maps into the kernel without attaching them.
func Load(hooks Hooks) (*Programs, error) {
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
	if hooks != HooksAuto {
		return load(hooks)
	}
	p, tcpErr := loadTCP()
	if tcpErr == nil {
		return p, nil
	}
	hooks = HooksSyscall
	if socketHooksAvailable() {
		hooks = HooksSocket
	}
	p, err := load(hooks)
	if err != nil {
		return nil, err
	}
	p.fallback = tcpErr
	return p, nil
}

// loadTCP loads the tcp hooks and attaches them once: a kernel may load
// tracing programs on functions and still refuse to attach them.
func loadTCP() (*Programs, error) {
	p, err := load(HooksTCP)
	if err != nil {
		return nil, err
	}
	if err := p.Attach(); err != nil {
		p.Close()
		return nil, err
	}
	p.Detach()
	return p, nil
}

// load loads the programs of one set of hooks and the maps.
func load(hooks Hooks) (*Programs, error) {
	names, ok := programsOf[hooks]
	if !ok {
		return nil, fmt.Errorf("loading socket observer: unknown hooks %q", hooks)
	}
	spec, err := bpf.LoadAxonSock()
	if err != nil {
		return nil, fmt.Errorf("loading socket observer spec: %w", err)
	}
	for name := range spec.Programs {
		if !slices.Contains(names, name) {
			delete(spec.Programs, name) // needs a newer kernel, or not used
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil && hooks == HooksTCP && errors.Is(err, unix.EPERM) {
		return nil, fmt.Errorf("loading socket observer (tcp hooks): the kernel refuses tracing programs on its functions: %w", err)
	}
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading socket observer (%s hooks): %+v", hooks, ve)
		}
		return nil, fmt.Errorf("loading socket observer (%s hooks): %w", hooks, err)
	}
	p := &Programs{hooks: hooks, coll: coll, progs: coll.Programs}
	if err := coll.Assign(&p.maps); err != nil {
		coll.Close()
		return nil, fmt.Errorf("loading socket observer maps: %w", err)
	}
	return p, nil
}

// Hooks says which set of hooks the programs run on.
func (p *Programs) Hooks() Hooks { return p.hooks }

// Fallback is why HooksAuto did not pick HooksTCP (nil if it did, or if
// the hooks were asked for by name).
func (p *Programs) Fallback() error { return p.fallback }

// Attach attaches the programs to their hooks. From then on they run for
// every task that the hooks fire for: their first work is the namespace
// filter (after the syscall number, for HooksSyscall).
func (p *Programs) Attach() error {
	if len(p.links) > 0 {
		return nil
	}
	for _, name := range programsOf[p.hooks] {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.progs[name]})
		if err != nil {
			p.Detach()
			return fmt.Errorf("attaching %s: %w", name, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// Attached reports whether the programs are attached.
func (p *Programs) Attached() bool { return len(p.links) > 0 }

// Detach removes the programs from their hooks; maps stay.
func (p *Programs) Detach() {
	for _, l := range p.links {
		_ = l.Close()
	}
	p.links = nil
}

// Close detaches and unloads everything.
func (p *Programs) Close() error {
	p.Detach()
	_ = p.maps.Close()
	p.coll.Close()
	return nil
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
	if _, err := p.maps.AxsNetnsBits.BatchLookup(new(ebpf.MapBatchCursor), keys, prev, nil); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		// Batch operations may be missing (old kernels): read one by one.
		for i := range keys {
			if err := p.maps.AxsNetnsBits.Lookup(keys[i], &prev[i]); err != nil {
				return fmt.Errorf("reading monitored namespaces: %w", err)
			}
		}
	}
	for i := range words {
		if words[i] != prev[i] {
			if err := p.maps.AxsNetnsBits.Put(uint32(i), words[i]); err != nil {
				return fmt.Errorf("writing monitored namespaces: %w", err)
			}
		}
	}
	m := p.maps.AxsNetns
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
		if err := p.maps.AxsStats.Lookup(i, &per); err != nil {
			return out, fmt.Errorf("reading observer counters: %w", err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}
