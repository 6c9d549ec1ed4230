package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFingerprintTracksContentNotNoise(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "kind: Pod\n")
	fp1, err := Fingerprint(dir)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".a.yaml.swp"), "junk")
	write(t, filepath.Join(dir, "a.yaml~"), "junk")
	if fp, _ := Fingerprint(dir); fp != fp1 {
		t.Error("editor swap/backup files changed the fingerprint")
	}
	write(t, filepath.Join(dir, "a.yaml"), "kind: Pod \n")
	if fp, _ := Fingerprint(dir); fp == fp1 {
		t.Error("an edit of a policy file did not change the fingerprint")
	}
	// Moving content between files is a change too.
	write(t, filepath.Join(dir, "a.yaml"), "kind: Pod\n")
	write(t, filepath.Join(dir, "b.yaml"), "")
	if fp, _ := Fingerprint(dir); fp == fp1 {
		t.Error("adding a file did not change the fingerprint")
	}
}

func TestWatchReportsSettledChangeWithinTwoSeconds(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	write(t, p, "v1")
	fp0, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	go Watch(ctx, dir, 50*time.Millisecond, fp0, func(fp string) { got <- fp }, nil)

	select {
	case fp := <-got:
		t.Fatalf("reported a change %s before any edit", fp)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	write(t, p, "v2")
	want, _ := Fingerprint(dir)
	select {
	case fp := <-got:
		if fp != want {
			t.Errorf("reported %s, want fingerprint of the edited dir %s", fp, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("change reported after %v, want within 2s", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("edit not reported within 2s")
	}
	select {
	case fp := <-got:
		t.Errorf("reported the same change twice (%s)", fp)
	case <-time.After(300 * time.Millisecond):
	}
}

// A directory that disappears is reported once, not on every poll, and its
// return once.
func TestWatchReportsScanFailureOncePerState(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fp0, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 100)
	go Watch(ctx, dir, 10*time.Millisecond, fp0, func(string) {}, func(err error) { errs <- err })

	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("reported recovery before any failure")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the missing directory was not reported")
	}
	time.Sleep(200 * time.Millisecond) // about 20 failed polls
	if n := len(errs); n != 0 {
		t.Fatalf("the missing directory was reported %d more times, want once", n)
	}
	if err := os.Rename(dir+".gone", dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if err != nil {
			t.Fatalf("after the directory came back: %v, want nil (recovered)", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the directory's return was not reported")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(errs); n != 0 {
		t.Errorf("%d more reports after recovery, want none", n)
	}
}

// With a poll interval of an hour only inotify can report: edits, files in
// a subdirectory made after the start, and a ConfigMap-style symlink flip
// are each reported, ending with the fingerprint of the settled directory.
func TestWatchReportsThroughInotify(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "p.yaml"), "v1")
	fp0, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	go Watch(ctx, dir, time.Hour, fp0, func(fp string) { got <- fp }, nil)
	time.Sleep(100 * time.Millisecond) // let the watch start

	// A pause of more than Quiet inside a burst (a loaded machine) may
	// report an intermediate state first; the settled one must follow, and
	// nothing after it.
	expect := func(step string) {
		t.Helper()
		want, _ := Fingerprint(dir)
		deadline := time.After(5 * time.Second)
		for done := false; !done; {
			select {
			case fp := <-got:
				done = fp == want
			case <-deadline:
				t.Fatalf("%s: the settled directory was not reported (inotify)", step)
			}
		}
		select {
		case fp := <-got:
			t.Fatalf("%s: reported again after the settled state (%s)", step, fp)
		case <-time.After(200 * time.Millisecond):
		}
	}
	write(t, filepath.Join(dir, "p.yaml"), "v2")
	expect("an edit")
	for i := range 20 { // a burst of writes
		write(t, filepath.Join(dir, "q.yaml"), "burst "+string(rune('a'+i)))
	}
	expect("a burst of writes")
	sub := filepath.Join(dir, "team")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(sub, "r.yaml"), "r1")
	expect("a new subdirectory with a file")
	write(t, filepath.Join(sub, "r.yaml"), "r2")
	expect("an edit in the new subdirectory")

	// The kubelet's ConfigMap update: a new hidden folder, then ..data
	// swapped to it by a rename; the visible names are symlinks into it.
	for i, content := range []string{"cm1", "cm2"} {
		configMapVersion(t, dir, "ts"+string(rune('0'+i)), map[string]string{"cm.yaml": content})
		if i == 0 {
			if err := os.Symlink("..data/cm.yaml", filepath.Join(dir, "cm.yaml")); err != nil {
				t.Fatal(err)
			}
		}
		expect("ConfigMap update " + content)
	}
}

// The notifier watches the directory and every visible subdirectory, picks
// up new ones and forgets removed ones.
func TestNotifierFollowsSubdirectories(t *testing.T) {
	dir := t.TempDir()
	n := newNotifier(dir)
	defer n.close()
	if n.w == nil {
		t.Skip("inotify is not available here: Watch polls instead")
	}
	for _, d := range []string{"a", "a/b", ".hidden"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n.sync()
	for _, d := range []string{dir, filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		if !n.watched[d] {
			t.Errorf("%s not watched", d)
		}
	}
	if n.watched[filepath.Join(dir, ".hidden")] {
		t.Error("a hidden directory is watched")
	}
	if err := os.RemoveAll(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	n.sync()
	if len(n.watched) != 1 {
		t.Errorf("after removing a/: watching %v, want only the directory", n.watched)
	}
}

// A ConfigMap update is reported with the bytes of the files the scan read
// (what the fingerprint was computed from), and the kubelet's removal of
// the old version folder, a hidden name, does not hold the report back
// while it goes on: events on hidden names start the quiet wait but do not
// extend it.
func TestWatchChangeCarriesFilesAndIgnoresHiddenTail(t *testing.T) {
	dir := t.TempDir()
	version := func(tag, content string) {
		configMapVersion(t, dir, "ts"+tag, map[string]string{"cm.yaml": content})
	}
	version("0", "v0")
	if err := os.Symlink("..data/cm.yaml", filepath.Join(dir, "cm.yaml")); err != nil {
		t.Fatal(err)
	}
	got := watchChanges(t, dir)

	version("1", "v1")
	renamed := time.Now()
	// The tail: hidden entries come and go every 2 ms for 300 ms.
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			p := filepath.Join(dir, ".junk")
			_ = os.WriteFile(p, []byte{byte(i)}, 0o644)
			_ = os.Remove(p)
		}
	}()
	time.AfterFunc(300*time.Millisecond, func() { close(stop) })
	want, _ := Fingerprint(dir)
	select {
	case c := <-got:
		if c.Fingerprint != want {
			t.Fatalf("reported %s, want %s", c.Fingerprint, want)
		}
		if d := time.Since(renamed); d > 250*time.Millisecond {
			t.Errorf("reported %v after the rename: the hidden tail held it back", d)
		}
		if string(c.Files["cm.yaml"]) != "v1" {
			t.Errorf("Files[cm.yaml] = %q, want the bytes hashed, v1 (files: %d)", c.Files["cm.yaml"], len(c.Files))
		}
		if c.Event.IsZero() || c.Scanned.Before(c.Event) {
			t.Errorf("event %v, scanned %v: want the first event, then the scan", c.Event, c.Scanned)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ConfigMap update was not reported")
	}
	<-stop
	select {
	case c := <-got:
		t.Errorf("reported again after the hidden tail (%s)", c.Fingerprint)
	case <-time.After(200 * time.Millisecond):
	}
}

// watchChanges starts WatchChanges on dir (no poll), from its fingerprint
// now, until the test ends, and returns the changes it reports.
func watchChanges(t *testing.T, dir string) <-chan Change {
	t.Helper()
	fp0, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan Change, 10)
	go WatchChanges(ctx, dir, time.Hour, fp0, func(c Change) { got <- c }, nil)
	time.Sleep(100 * time.Millisecond) // let the watch start
	return got
}

// TestWatchReportsChangeBeforeItStarted: a change made after the caller
// took the initial fingerprint and before the watch began (an agent still
// loading and attaching) is reported at once, not at the next poll.
func TestWatchReportsChangeBeforeItStarted(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	write(t, p, "v1")
	fp0, _ := Fingerprint(dir)
	write(t, p, "v2")
	want, _ := Fingerprint(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	go Watch(ctx, dir, time.Hour, fp0, func(fp string) { got <- fp }, nil)
	select {
	case fp := <-got:
		if fp != want {
			t.Errorf("reported %s, want %s", fp, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a change made before the watch began was not reported (the poll is an hour away)")
	}
	select {
	case fp := <-got:
		t.Errorf("reported %s again", fp)
	case <-time.After(300 * time.Millisecond):
	}
}
