package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// --push sends the index and both architectures' images to a registry (an
// in-process OCI registry here), which serves back the same digests.
func TestPushToARegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	bin := filepath.Join(t.TempDir(), "axon-agent")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	imgs := map[string]v1.Image{}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := platformImage(Images[0], arch, "1.2.3", map[string]string{"axon-agent": bin})
		if err != nil {
			t.Fatal(err)
		}
		imgs[arch] = img
	}
	idx, err := index(imgs)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/axon-dev/axon-agent:1.2.3"
	if err := push(t.Context(), ref, idx); err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(tag)
	if err != nil {
		t.Fatalf("pulling the pushed index: %v", err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("registry serves %s, pushed %s", d, want)
	}
	m, _ := got.IndexManifest()
	for _, desc := range m.Manifests {
		img, err := got.Image(desc.Digest)
		if err != nil {
			t.Fatalf("%s: %v", desc.Platform.Architecture, err)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != desc.Platform.Architecture {
			t.Errorf("%s: config %v %v", desc.Platform.Architecture, cf, err)
		}
	}
}
