package watch

import (
	"os"
	"path/filepath"
	"testing"
)

// configMapVersion writes a kubelet-style version folder ..<tag> holding
// files and switches ..data to it with a rename.
func configMapVersion(t *testing.T, dir, tag string, files map[string]string) {
	t.Helper()
	ts := filepath.Join(dir, ".."+tag)
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		write(t, filepath.Join(ts, name), content)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// The status check Watch makes after the removal of hidden names says
// unchanged only when a scan would give the same fingerprint: after the
// removal of a ConfigMap's old version folder, but not when a visible name
// led into the removed folder, nor after any other change (it may say
// changed when the content is the same: then the directory is read).
func TestUnchangedMatchesAScan(t *testing.T) {
	dir := t.TempDir()
	configMapVersion(t, dir, "ts0", map[string]string{"a.yaml": "a0", "b.yaml": "b0"})
	symlink(t, "..data/a.yaml", filepath.Join(dir, "a.yaml"))
	symlink(t, "..data/b.yaml", filepath.Join(dir, "b.yaml"))
	if err := os.Mkdir(filepath.Join(dir, ".keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".keep", "k.yaml"), "k0")
	symlink(t, ".keep/k.yaml", filepath.Join(dir, "k.yaml")) // straight into a hidden folder
	symlink(t, ".nowhere/x.yaml", filepath.Join(dir, "x.yaml"))
	symlink(t, ".keep", filepath.Join(dir, "d")) // a symlink to a directory
	h := NewHasher()
	scan := func() string {
		t.Helper()
		fp, err := h.Fingerprint(dir)
		if err != nil {
			t.Fatal(err)
		}
		return fp
	}
	const sameContent = "..data switched to the same content (new files)"
	expect := func(step string, want bool) {
		t.Helper()
		before := h.lastFP
		fp, ok := h.unchanged(dir)
		if ok != want {
			t.Fatalf("%s: unchanged says %v, want %v", step, ok, want)
		}
		if now, _ := Fingerprint(dir); ok && (fp != before || now != fp) {
			t.Fatalf("%s: unchanged gave %s, the last scan %s, a scan now %s", step, fp, before, now)
		} else if !ok && now == before && step != sameContent {
			t.Fatalf("%s: the step did not change the fingerprint", step)
		}
	}
	scan()
	expect("nothing done", true)

	configMapVersion(t, dir, "ts1", map[string]string{"a.yaml": "a1", "b.yaml": "b0"})
	expect("..data switched", false)
	scan()
	if err := os.RemoveAll(filepath.Join(dir, "..ts0")); err != nil {
		t.Fatal(err)
	}
	expect("the old version folder removed", true)

	configMapVersion(t, dir, "ts2", map[string]string{"a.yaml": "a1", "b.yaml": "b0"})
	expect(sameContent, false)
	scan()

	if err := os.RemoveAll(filepath.Join(dir, ".keep")); err != nil {
		t.Fatal(err)
	}
	expect("a hidden folder a visible name led into removed", false)
	scan()

	if err := os.Mkdir(filepath.Join(dir, ".nowhere"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".nowhere", "x.yaml"), "x")
	expect("a dangling name now leads to a file", false)
	scan()

	write(t, filepath.Join(dir, "c.yaml"), "c")
	expect("a file added", false)
	scan()
	if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	expect("a file removed", false)
	scan()
	write(t, filepath.Join(dir, ".nowhere", "x.yaml"), "x, longer")
	expect("a file rewritten in place", false)
}

// A symlink to a directory is skipped, and a file that grows past the
// size its status gave is read to its end (the hasher reads by the size
// the open file's status gives).
func TestHasherSkipsDirectoriesAndReadsToTheEnd(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".d"), 0o755); err != nil {
		t.Fatal(err)
	}
	symlink(t, ".d", filepath.Join(dir, "d"))
	write(t, filepath.Join(dir, "empty.yaml"), "")
	h := NewHasher()
	fp, err := h.Fingerprint(dir)
	if err != nil {
		t.Fatalf("a symlink to a directory: %v", err)
	}
	write(t, filepath.Join(dir, "empty.yaml"), "")
	if want, _ := Fingerprint(dir); fp != want {
		t.Errorf("the remembering hasher gave %s, Fingerprint %s", fp, want)
	}
	p := filepath.Join(dir, "big.yaml")
	big := make([]byte, 100_000)
	for i := range big {
		big[i] = byte(i)
	}
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	// Grown after the status was taken.
	if err := os.WriteFile(p, append(big, big...), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := readAll(f, st.Size())
	if err != nil || len(b) != 2*len(big) {
		t.Fatalf("read %d bytes (%v), want %d", len(b), err, 2*len(big))
	}
}
