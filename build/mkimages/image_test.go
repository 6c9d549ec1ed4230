package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// untar extracts an archive into a new folder.
func untar(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fileIn returns a file of an image's filesystem.
func fileIn(t *testing.T, img v1.Image, name string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == name {
				b, _ := io.ReadAll(tr)
				rc.Close()
				return b
			}
		}
		rc.Close()
	}
	t.Fatalf("no %s in the image", name)
	return nil
}

const version = "9.9.9-test"

var (
	buildOnce  sync.Once
	buildPaths []string
	buildErr   error
	buildDir   string
)

// built returns the archives of one build of both images for amd64 and
// arm64, shared by the tests of the package.
func built(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: cross-compiling six binaries takes minutes on a cold cache")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "axon-images-"); buildErr != nil {
			return
		}
		buildPaths, buildErr = Build(context.Background(), Config{Version: version, Registry: "ghcr.io/axon-dev", Out: buildDir, Module: "../..", Archs: []string{"amd64", "arm64"}})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPaths
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var machine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// make images' archives are OCI image layouts named for docker load and ctr
// import, holding a valid two-architecture index; each image's config says
// linux/ARCH and the right entrypoint, and its binary is a static ELF of
// that architecture; the amd64 controller runs here and says its version.
func TestBuildImages(t *testing.T) {
	paths := built(t)
	if len(paths) != len(Images) {
		t.Fatalf("%d archives, want %d", len(paths), len(Images))
	}
	for i, im := range Images {
		t.Run(im.Name, func(t *testing.T) {
			st, _ := os.Stat(paths[i])
			t.Logf("%s: %d MB", filepath.Base(paths[i]), st.Size()>>20)
			lp, err := layout.FromPath(untar(t, paths[i]))
			if err != nil {
				t.Fatalf("not an OCI image layout: %v", err)
			}
			top, err := lp.ImageIndex()
			if err != nil {
				t.Fatal(err)
			}
			tm, err := top.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(tm.Manifests) != 1 {
				t.Fatalf("index.json has %d entries", len(tm.Manifests))
			}
			d := tm.Manifests[0]
			wantRef := "ghcr.io/axon-dev/" + im.Name + ":" + version
			if d.Annotations["io.containerd.image.name"] != wantRef || d.Annotations["org.opencontainers.image.ref.name"] != version {
				t.Errorf("annotations %v, want the name %s", d.Annotations, wantRef)
			}
			if d.MediaType != types.OCIImageIndex {
				t.Fatalf("entry is %s, want an image index", d.MediaType)
			}
			idx, err := top.ImageIndex(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(idx); err != nil {
				t.Fatalf("invalid index: %v", err)
			}
			im2, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			var archs []string
			for _, m := range im2.Manifests {
				if m.Platform == nil || m.Platform.OS != "linux" {
					t.Fatalf("manifest platform %+v", m.Platform)
				}
				arch := m.Platform.Architecture
				archs = append(archs, arch)
				img, err := idx.Image(m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if cf.Architecture != arch || cf.OS != "linux" {
					t.Errorf("%s: config says %s/%s", arch, cf.OS, cf.Architecture)
				}
				if !slices.Equal(cf.Config.Entrypoint, im.Entrypoint) || cf.Config.User != im.User {
					t.Errorf("%s: entrypoint %q user %q, want %q %q", arch, cf.Config.Entrypoint, cf.Config.User, im.Entrypoint, im.User)
				}
				if cf.Config.Labels["org.opencontainers.image.version"] != version {
					t.Errorf("%s: labels %v", arch, cf.Config.Labels)
				}
				for _, b := range im.Binaries {
					bin := fileIn(t, img, b)
					ef, err := elf.NewFile(bytes.NewReader(bin))
					if err != nil {
						t.Fatalf("%s /%s: %v", arch, b, err)
					}
					if ef.Machine != machine[arch] {
						t.Errorf("%s /%s is for %s", arch, b, ef.Machine)
					}
					for _, p := range ef.Progs {
						if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
							t.Errorf("%s /%s is dynamically linked", arch, b)
						}
					}
					if arch == "amd64" && b == "axon-controller" && machine["amd64"] == hostMachine() {
						p := filepath.Join(t.TempDir(), b)
						if err := os.WriteFile(p, bin, 0o755); err != nil {
							t.Fatal(err)
						}
						got, err := exec.Command(p, "--version").Output()
						if err != nil || strings.TrimSpace(string(got)) != version {
							t.Errorf("/%s --version from the amd64 image: %q %v, want %s", b, got, err, version)
						}
					}
				}
			}
			slices.Sort(archs)
			if !slices.Equal(archs, []string{"amd64", "arm64"}) {
				t.Errorf("architectures %v", archs)
			}
		})
	}
	// The same sources give the same archives (digests a release can
	// reproduce).
	again := t.TempDir()
	paths2, err := Build(t.Context(), Config{Version: version, Registry: "ghcr.io/axon-dev", Out: again, Module: "../..", Archs: []string{"amd64", "arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range paths {
		a, _ := os.ReadFile(paths[i])
		b, _ := os.ReadFile(paths2[i])
		if !bytes.Equal(a, b) {
			t.Errorf("%s is not reproducible", filepath.Base(paths[i]))
		}
	}
}

func hostMachine() elf.Machine {
	exe, err := os.Executable()
	if err != nil {
		return elf.EM_NONE
	}
	f, err := elf.Open(exe)
	if err != nil {
		return elf.EM_NONE
	}
	defer f.Close()
	return f.Machine
}
