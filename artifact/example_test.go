package artifact_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/artifact"
)

func Example() {
	checkout, err := os.MkdirTemp("", "checkout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(checkout)
	// What a build leaves behind: the artifact is dist/, not the rest of the checkout.
	os.MkdirAll(filepath.Join(checkout, "dist"), 0o755)
	os.WriteFile(filepath.Join(checkout, "dist", "app"), []byte("#!/bin/sh\necho hello\n"), 0o755)
	os.WriteFile(filepath.Join(checkout, "main.go"), []byte("package main\n"), 0o644)

	state, err := os.MkdirTemp("", "state")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(state)
	store, err := artifact.Open(filepath.Join(state, "artifacts"))
	if err != nil {
		log.Fatal(err)
	}
	art, err := store.Put(checkout, []string{"dist/"})
	if err != nil {
		log.Fatal(err)
	}
	// The digest depends only on names, contents and execute bits, so it is the same on any
	// machine, at any time.
	fmt.Println(art.Digest, art.Files)

	dest := filepath.Join(state, "versions", "1")
	if err := store.Unpack(art.Digest, dest); err != nil {
		log.Fatal(err)
	}
	script, _ := os.ReadFile(filepath.Join(dest, "dist", "app"))
	fmt.Print(string(script))
	// Output:
	// sha256:499275e56ecd7daf858c7e58b6f42daa202de04b2701c2b518f668f48f429e5e 1
	// #!/bin/sh
	// echo hello
}
