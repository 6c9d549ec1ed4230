package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The remembering hasher Watch uses gives Fingerprint's result after every
// kind of rewrite, same-size ones in place included, fresh or settled.
func TestHasherSeesRewritesOfTheSameSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.yaml")
	write(t, p, "path: /aaa\n")
	h := NewHasher()
	last := ""
	expect := func(step string) {
		t.Helper()
		got, err := h.Fingerprint(dir)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Fingerprint(dir)
		if got != want {
			t.Fatalf("%s: the hasher gave %s, Fingerprint %s", step, got, want)
		}
		last = got
	}
	expect("first scan")
	fresh := last
	write(t, p, "path: /bbb\n")
	expect("rewritten at once")
	if last == fresh {
		t.Fatal("a same-size rewrite right after a scan was not seen")
	}

	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 20 * time.Millisecond
	time.Sleep(50 * time.Millisecond)
	expect("settled")
	expect("from memory")
	before := last
	write(t, p, "path: /ccc\n")
	expect("rewritten in place after settling")
	if last == before {
		t.Fatal("a same-size rewrite of a settled file was not seen")
	}
	time.Sleep(50 * time.Millisecond)
	expect("settled again")
	tmp := filepath.Join(dir, ".a.tmp")
	write(t, tmp, "path: /ddd\n")
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	expect("renamed over")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	expect("removed")
}
