package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"
)

func TestBusyboxArchiveLayout(t *testing.T) {
	path := Busybox(t)
	if again := Busybox(t); again != path {
		t.Errorf("not cached: %s then %s", path, again)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	if index.Manifests[0].Annotations["io.containerd.image.name"] != Ref {
		t.Errorf("annotations %v", index.Manifests[0].Annotations)
	}
	var manifest struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	mb := files["blobs/sha256/"+index.Manifests[0].Digest[len("sha256:"):]]
	if err := json.Unmarshal(mb, &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v %s", err, mb)
	}
	layer := files["blobs/sha256/"+manifest.Layers[0].Digest[len("sha256:"):]]
	links := map[string]string{}
	lr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		links[h.Name] = h.Linkname
	}
	for _, a := range []string{"bin/sh", "bin/sleep", "bin/wget", "bin/httpd", "bin/nc"} {
		if links[a] != "busybox" {
			t.Errorf("%s -> %q, want busybox", a, links[a])
		}
	}
	if _, ok := links["bin/busybox"]; !ok {
		t.Error("no bin/busybox")
	}
}
