package watch

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// hookScans records Watch's scans after bursts for the length of the test.
func hookScans(t *testing.T, each func(read bool)) {
	t.Helper()
	scannedHook = each
	t.Cleanup(func() { scannedHook = nil })
}

// After a ConfigMap update is reported, the kubelet's removal of the old
// version folder is checked by the files' status, not by reading them
// again, and reports nothing; the removal of a hidden folder a visible
// name leads into straight is still reported.
func TestWatchChecksHiddenRemovalByStatus(t *testing.T) {
	dir := t.TempDir()
	configMapVersion(t, dir, "ts0", map[string]string{"cm.yaml": "v0"})
	symlink(t, "..data/cm.yaml", filepath.Join(dir, "cm.yaml"))
	if err := os.Mkdir(filepath.Join(dir, ".other"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".other", "o.yaml"), "o")
	symlink(t, ".other/o.yaml", filepath.Join(dir, "o.yaml"))
	var mu sync.Mutex
	var scans []bool
	hookScans(t, func(read bool) {
		mu.Lock()
		scans = append(scans, read)
		mu.Unlock()
	})
	takeScans := func() []bool {
		mu.Lock()
		defer mu.Unlock()
		s := scans
		scans = nil
		return s
	}
	got := watchChanges(t, dir)

	configMapVersion(t, dir, "ts1", map[string]string{"cm.yaml": "v1"})
	want, _ := Fingerprint(dir)
	select {
	case c := <-got:
		if c.Fingerprint != want {
			t.Fatalf("reported %s, want %s", c.Fingerprint, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ConfigMap update was not reported")
	}
	time.Sleep(50 * time.Millisecond)
	if s := takeScans(); len(s) == 0 || !s[len(s)-1] {
		t.Fatalf("scans %v: want the update read", s)
	}
	if err := os.RemoveAll(filepath.Join(dir, "..ts0")); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		t.Fatalf("the old version's removal reported %s", c.Fingerprint)
	case <-time.After(300 * time.Millisecond):
	}
	if s := takeScans(); len(s) != 1 || s[0] {
		t.Fatalf("scans after the old version's removal %v, want one status check ([false])", s)
	}

	// The next version folder written, ..data not switched yet.
	if err := os.Mkdir(filepath.Join(dir, "..ts2"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "..ts2", "cm.yaml"), "v2")
	select {
	case c := <-got:
		t.Fatalf("a new version folder not switched to reported %s", c.Fingerprint)
	case <-time.After(300 * time.Millisecond):
	}
	if s := takeScans(); len(s) != 1 || s[0] {
		t.Fatalf("scans after a new version folder was made %v, want one status check ([false])", s)
	}

	if err := os.RemoveAll(filepath.Join(dir, ".other")); err != nil {
		t.Fatal(err)
	}
	want, _ = Fingerprint(dir)
	select {
	case c := <-got:
		if c.Fingerprint != want {
			t.Fatalf("reported %s, want %s", c.Fingerprint, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the removal of the folder o.yaml led into was not reported")
	}
	if s := takeScans(); len(s) != 1 || !s[0] {
		t.Fatalf("scans after .other's removal %v, want a status check that found the change and read ([true])", s)
	}
}

// A change made while the directory is read is not reported mixed with
// the state before it: the scan is done again once the change is quiet,
// and only the final state is reported. The change is a write of a
// visible file, or a ConfigMap's switch of ..data (events on hidden names
// only).
func TestWatchDoesNotReportAScanMixedWithAChange(t *testing.T) {
	t.Run("write", func(t *testing.T) {
		testScanMixedWith(t, nil, func(dir string) { write(t, filepath.Join(dir, "q.yaml"), "q") })
	})
	t.Run("configmap", func(t *testing.T) {
		testScanMixedWith(t, func(dir string) {
			configMapVersion(t, dir, "ts0", map[string]string{"q.yaml": "q0"})
			symlink(t, "..data/q.yaml", filepath.Join(dir, "q.yaml"))
		}, func(dir string) {
			configMapVersion(t, dir, "ts1", map[string]string{"q.yaml": "q1"})
		})
	})
}

// testScanMixedWith starts a watch on a directory made by setup, writes a
// file, and during the scan that follows makes change.
func testScanMixedWith(t *testing.T, setup, change func(dir string)) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "p.yaml"), "p0")
	if setup != nil {
		setup(dir)
	}
	var once sync.Once
	hookScans(t, func(bool) {
		once.Do(func() {
			// During the first scan (it has just read p.yaml v1).
			change(dir)
			time.Sleep(100 * time.Millisecond) // the events reach the watch
		})
	})
	fp0, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	go Watch(ctx, dir, time.Hour, fp0, func(fp string) { got <- fp }, nil)
	time.Sleep(100 * time.Millisecond) // let the watch start

	write(t, filepath.Join(dir, "p.yaml"), "p1")
	select {
	case fp := <-got:
		want, _ := Fingerprint(dir)
		if fp != want {
			t.Fatalf("reported %s, the state the first scan read, before the final %s", fp, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reported")
	}
}
