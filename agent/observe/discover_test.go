package observe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// TestNetnsFinderScansOnlyWhenNeeded: the finder answers a refresh from
// where it found each pod's namespace while that still holds, and scans
// the node again when an IP is new, a namespace is replaced at its path, or
// fullScanEvery has passed; its answers are NetnsOfIPs's.
func TestNetnsFinderScansOnlyWhenNeeded(t *testing.T) {
	netns.RequireRoot(t)
	a, b := netns.Pair(t, "10.88.11.0/24", "a", "10.88.11.1", "b", "10.88.11.2")
	want, err := NetnsOfIPs([]netip.Addr{a.Addr, b.Addr})
	if err != nil || len(want) != 2 {
		t.Fatalf("NetnsOfIPs: %v %v", want, err)
	}
	now := time.Unix(1000, 0)
	f := newNetnsFinder()
	f.now = func() time.Time { return now }
	replaced := map[string]bool{}
	f.stat = func(p string) (uint32, error) {
		ino, err := inodeOf(p)
		if replaced[p] {
			ino++ // another namespace at the same path
		}
		return ino, err
	}
	step := func(what string, ips []netip.Addr, wantScan bool) {
		t.Helper()
		got, scanned, err := f.find(ips)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if scanned != wantScan {
			t.Errorf("%s: scanned %v, want %v", what, scanned, wantScan)
		}
		for _, ip := range ips {
			if got[ip] != want[ip] {
				t.Errorf("%s: %s in namespace %d, want %d", what, ip, got[ip], want[ip])
			}
		}
	}
	step("first refresh", []netip.Addr{a.Addr}, true)
	step("same pods", []netip.Addr{a.Addr}, false)
	now = now.Add(fullScanEvery - time.Second)
	step("same pods, just before a full scan is due", []netip.Addr{a.Addr}, false)
	step("a new pod", []netip.Addr{a.Addr, b.Addr}, true)
	step("both known", []netip.Addr{b.Addr, a.Addr}, false)
	replaced[f.found[a.Addr].path] = true
	step("a's namespace replaced at its path", []netip.Addr{a.Addr, b.Addr}, true)
	replaced = map[string]bool{}
	step("known again", []netip.Addr{a.Addr, b.Addr}, false)
	now = now.Add(fullScanEvery)
	step("full scan due", []netip.Addr{a.Addr, b.Addr}, true)
	// An IP no namespace holds is scanned for at every refresh.
	gone := netip.MustParseAddr("10.88.11.99")
	step("an unknown IP", []netip.Addr{a.Addr, gone}, true)
	step("still unknown", []netip.Addr{a.Addr, gone}, true)
}
