//go:build ignore

// mkimage writes the tests' busybox OCI image (internal/testimage: one
// layer built from the host's static /bin/busybox) to a file, for the demo
// and the pod benchmark: these machines reach no public registry, so the
// archive is pushed into a docker-registry on loopback with skopeo.
//
//	go run scripts/mkimage.go -o busybox.tar
//
// The build tag keeps this tool out of ./...; `go run` of the file still
// builds it.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"shoal/internal/testimage"
)

func main() {
	out := flag.String("o", "busybox.tar", "OCI archive to write")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	// Build caches the archive in the temp dir by busybox's digest; copy
	// it so the caller owns its file.
	src, err := testimage.Build(os.TempDir())
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, in); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
