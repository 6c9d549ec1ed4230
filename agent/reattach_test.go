package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// needTCX skips on kernels without TCX links (before Linux 6.6).
func needTCX(t *testing.T) {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("parsing kernel release: %v", err)
	}
	if major < 6 || (major == 6 && minor < 6) {
		t.Skip("needs TCX links (Linux >= 6.6)")
	}
}

// tcxPrograms lists the programs attached by TCX to iface in direction d.
func tcxPrograms(t *testing.T, iface string, at ebpf.AttachType) []ebpf.ProgramID {
	t.Helper()
	lk, err := netlink.LinkByName(iface)
	if err != nil {
		return nil
	}
	res, err := link.QueryPrograms(link.QueryOptions{Target: lk.Attrs().Index, Attach: at})
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids
}

// An interface recreated while a reload is compiling gets its programs back
// at once, not when the compile ends (which may take a minute).
func TestReattachDuringLongReload(t *testing.T) {
	needRoot(t)
	needTCX(t)
	name := vethName()
	addVeth(t, name)
	var calls atomic.Int32
	compiling := make(chan struct{})
	release := make(chan struct{})
	load := func(string, map[string][]byte, *table.Table) (*table.Table, []string, error) {
		if calls.Add(1) == 2 {
			close(compiling)
			<-release
		}
		return &table.Table{}, nil, nil
	}
	dir := t.TempDir()
	a := startAgent(t, Config{PolicyDir: dir, Interfaces: []string{name}, AttachMode: attach.ModeTCX},
		newTestDatapath(t), load)
	var released atomic.Bool
	unblock := func() {
		if released.CompareAndSwap(false, true) {
			close(release)
		}
	}
	t.Cleanup(unblock) // before the agent's cleanup waits for Run
	waitFor(t, 5*time.Second, "the agent to be ready", func() bool { return a.Ready() == nil })

	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-compiling:
	case <-time.After(5 * time.Second):
		t.Fatal("the policy change did not start a reload")
	}
	// Recreate the interface while the reload compiles: the kernel drops
	// the programs attached to the old device.
	if err := netlink.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		t.Fatal(err)
	}
	addVeth(t, name)
	waitFor(t, 5*time.Second, "the programs to be re-attached during the reload", func() bool {
		return len(tcxPrograms(t, name, ebpf.AttachTCXIngress)) == 1 &&
			len(tcxPrograms(t, name, ebpf.AttachTCXEgress)) == 1
	})
	waitFor(t, 5*time.Second, "the agent to be ready and enforcing again", func() bool {
		return a.Ready() == nil && value(t, a, "axon_enforcing", nil) == 1
	})
	select {
	case <-release:
		t.Fatal("the reload ended early; the test proves nothing")
	default:
	}
	unblock()
}
