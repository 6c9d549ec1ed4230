// Command mkimages builds Axon's container images without Docker: static
// binaries (CGO_ENABLED=0) of each architecture on an empty base, assembled
// with go-containerregistry into a multi-architecture OCI image index, one
// OCI image layout tar per image (`docker load -i` / `ctr import`):
//
//	go run ./build/mkimages --version 0.1.0 --out bin/images [--arch amd64,arm64] [--push]
//
// writes bin/images/axon-agent-0.1.0.oci.tar and
// bin/images/axon-controller-0.1.0.oci.tar, named
// ghcr.io/axon-dev/axon-agent:0.1.0 and ghcr.io/axon-dev/axon-controller:0.1.0
// (--registry changes the prefix). `make images` runs it; with --push it
// also sends them to the registry (the release workflow).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimages:", err)
		os.Exit(1)
	}
}

// Config says what to build and where.
type Config struct {
	Version, Registry, Out, Module string
	Archs                          []string
	// Push sends each index to its registry too (credentials from the
	// Docker config, e.g. after `docker login` or a CI login step).
	Push bool
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mkimages", flag.ContinueOnError)
	var c Config
	var archs string
	fs.StringVar(&c.Version, "version", "", "image tag and the binaries' version (required)")
	fs.StringVar(&c.Registry, "registry", "ghcr.io/axon-dev", "repository prefix of the image names")
	fs.StringVar(&c.Out, "out", "bin/images", "output folder")
	fs.StringVar(&archs, "arch", "amd64,arm64", "architectures (GOARCH) of the index")
	fs.StringVar(&c.Module, "module", ".", "folder of the Axon module")
	fs.BoolVar(&c.Push, "push", false, "also push each image index to --registry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Version == "" {
		return fmt.Errorf("--version is required")
	}
	c.Archs = strings.Split(archs, ",")
	paths, err := Build(ctx, c)
	for _, p := range paths {
		fmt.Println(p)
	}
	return err
}

// Build compiles the binaries and writes one archive per image; it returns
// the archives' paths.
func Build(ctx context.Context, c Config) ([]string, error) {
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, err
	}
	binDir, err := os.MkdirTemp(c.Out, ".bin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	var out []string
	for _, im := range Images {
		perArch := map[string]v1.Image{}
		for _, arch := range c.Archs {
			files := map[string]string{}
			for _, b := range im.Binaries {
				p := filepath.Join(binDir, arch, b)
				if _, err := os.Stat(p); err != nil {
					if err := goBuild(ctx, c, arch, b, p); err != nil {
						return out, err
					}
				}
				files[b] = p
			}
			img, err := platformImage(im, arch, c.Version, files)
			if err != nil {
				return out, fmt.Errorf("%s %s: %w", im.Name, arch, err)
			}
			perArch[arch] = img
		}
		idx, err := index(perArch)
		if err != nil {
			return out, err
		}
		path := filepath.Join(c.Out, im.Name+"-"+c.Version+".oci.tar")
		ref := c.Registry + "/" + im.Name + ":" + c.Version
		if err := writeArchive(path, ref, c.Version, idx); err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		if c.Push {
			if err := push(ctx, ref, idx); err != nil {
				return out, err
			}
		}
		out = append(out, path)
	}
	return out, nil
}

// push writes the index and its images to the registry of ref.
func push(ctx context.Context, ref string, idx v1.ImageIndex) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image name %s: %w", ref, err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// goBuild builds a static binary of cmd/name for linux/arch.
func goBuild(ctx context.Context, c Config, arch, name, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags=-s -w -X main.version="+c.Version, "-o", out, "./cmd/"+name)
	cmd.Dir = c.Module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/%s for %s: %w\n%s", name, arch, err, b)
	}
	return nil
}
