package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is one of Axon's images: binaries on an empty base.
type Image struct {
	// Name is the repository, e.g. ghcr.io/axon-dev/axon-agent.
	Name string
	// Binaries are the cmd/ packages built into the root (/axon-agent...).
	Binaries []string
	// Entrypoint of the image.
	Entrypoint []string
	// User the entrypoint runs as; the pod's securityContext may override.
	User string
}

// Images are what `make images` builds.
var Images = []Image{
	// The agent needs root (with capabilities: deploy's DaemonSet).
	{Name: "axon-agent", Binaries: []string{"axon-agent"}, Entrypoint: []string{"/axon-agent"}, User: "0:0"},
	// The webhook is in the controller image (deploy/webhook runs
	// /axon-webhook from it): one image for the control plane.
	{Name: "axon-controller", Binaries: []string{"axon-controller", "axon-webhook"}, Entrypoint: []string{"/axon-controller"}, User: "65532:65532"},
}

// epoch is every file's and the image's time: the same sources give the
// same digests.
var epoch = time.Unix(0, 0).UTC()

// rootLayer is a layer with the files (name in the image -> path on disk)
// at the root, mode 0755, owned by root, and an empty /tmp.
func rootLayer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 01777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(files[n])
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", files[n], err)
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o755, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// platformImage is one architecture's image.
func platformImage(im Image, arch, version string, files map[string]string) (v1.Image, error) {
	layer, err := rootLayer(files)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		CreatedBy: "build/mkimages: " + im.Name + " " + version, Created: v1.Time{Time: epoch},
	}}); err != nil {
		return nil, fmt.Errorf("adding layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = im.Entrypoint
	cf.Config.User = im.User
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   im.Name,
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  "https://github.com/axon-dev/axon",
	}
	return mutate.ConfigFile(img, cf)
}

// index is the multi-architecture image: one manifest per architecture.
func index(images map[string]v1.Image) (v1.ImageIndex, error) {
	archs := make([]string, 0, len(images))
	for a := range images {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, a := range archs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        images[a],
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: a}},
		})
	}
	return idx, nil
}

// writeArchive writes the index as an OCI image layout in a tar file
// (what `docker load` and `ctr import` read), named ref.
func writeArchive(path, ref, tag string, idx v1.ImageIndex) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref, // ctr import and docker load name the image from this
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return fmt.Errorf("writing index: %w", err)
	}
	return tarDir(dir, path)
}

// tarDir writes the files under dir into a tar at path, sorted, with fixed
// times (the archive is reproducible).
func tarDir(dir, path string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(f)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.IsDir() {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(rel) + "/", Mode: 0o755, ModTime: epoch})
		} else {
			err = writeFile(tw, p, filepath.ToSlash(rel), st.Size())
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeFile(tw *tar.Writer, p, name string, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch}); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
