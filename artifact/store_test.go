package artifact

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestRoundTrip(t *testing.T) {
	root := sampleTree(t)
	s := newStore(t)
	art, err := s.Put(root, []string{"dist/"})
	if err != nil {
		t.Fatal(err)
	}
	if art.Files != 4 {
		t.Errorf("Files = %d, want 4 (app, app.yaml, notes.txt, big.bin)", art.Files)
	}
	if !s.Has(art.Digest) {
		t.Fatal("Has is false right after Put")
	}

	dest := filepath.Join(t.TempDir(), "versions", "v1")
	if err := s.Unpack(art.Digest, dest); err != nil {
		t.Fatal(err)
	}

	// What Unpack must produce is the source tree with its modes normalised, whatever the umask
	// the test runs under.
	err = filepath.WalkDir(filepath.Join(root, "dist"), func(full string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(full, 0o755)
		case filepath.Base(full) == "app.yaml":
			return os.Chmod(full, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want, got := listTree(t, filepath.Join(root, "dist")), listTree(t, filepath.Join(dest, "dist"))
	if !slices.Equal(want, got) {
		t.Fatalf("unpacked tree differs\n got: %q\nwant: %q", got, want)
	}
	if entries, err := os.ReadDir(dest); err != nil || len(entries) != 1 {
		t.Fatalf("dest holds %v (%v), want only dist", entries, err)
	}
	if info, err := os.Stat(dest); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("dest mode %v (%v), want 0755", info.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 1 {
		t.Fatalf("beside dest: %v, want no temporary leftovers", entries)
	}

	// Open streams exactly the packed bytes.
	rc, err := s.Open(art.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	streamed, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed, packBytes(t, root, "dist")) || int64(len(streamed)) != art.Size {
		t.Fatalf("Open streamed %d bytes that differ from Pack's", len(streamed))
	}
	if err := s.Verify(art.Digest); err != nil {
		t.Fatal(err)
	}
}

// TestChunkBoundaries stores plaintexts around the chunk size, where the last chunk is empty,
// partial or full.
func TestChunkBoundaries(t *testing.T) {
	s := newStore(t)
	sizes := map[string]int{
		"empty": 0, "one byte": 1, "one short of a chunk": chunkSize - 1, "one chunk": chunkSize,
		"one chunk and a byte": chunkSize + 1, "two chunks": 2 * chunkSize,
	}
	for name, size := range sizes {
		t.Run(name, func(t *testing.T) {
			plain := make([]byte, size)
			rand.Read(plain)
			art, err := s.put(func(w io.Writer) (packStats, error) {
				// Uneven writes cross chunk boundaries at odd places.
				for p := plain; len(p) > 0; {
					n := min(len(p), 100_003)
					if _, err := w.Write(p[:n]); err != nil {
						return packStats{}, err
					}
					p = p[n:]
				}
				return packStats{}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if art.Digest != "sha256:"+hexSum(plain) || art.Size != int64(size) {
				t.Fatalf("got %+v for %d bytes", art, size)
			}
			rc, err := s.Open(art.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("read back %d bytes that differ from the %d stored", len(got), size)
			}
			chunks := max(1, (size+chunkSize-1)/chunkSize)
			info, err := os.Stat(s.Path(art.Digest))
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(headerSize + size + chunks*tagSize); info.Size() != want {
				t.Fatalf("blob is %d bytes, want %d", info.Size(), want)
			}
			if size > 0 && size%chunkSize == 0 {
				// Cut the last full chunk off: the one before it was sealed as not final.
				rewrite(t, s, art.Digest, func(b []byte) []byte { return b[:len(b)-blockSize] })
				wantCorrupt(t, s.Verify(art.Digest), art.Digest)
			}
		})
	}
}

func rewrite(t *testing.T, s *Store, digest string, change func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(s.Path(digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(digest), change(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantCorrupt(t *testing.T, err error, digest string) {
	t.Helper()
	wantCode(t, err, sluice.ECORRUPT, "artifact "+shortDigest(digest)+" failed verification (",
		"it was changed or damaged on disk and will not be used; rebuild it with sluice run")
}

func TestTamperedBlobsAreRefused(t *testing.T) {
	root := sampleTree(t)
	// other has the same size and layout as root and differs in one byte, so its chunks fit
	// exactly where root's are.
	other := t.TempDir()
	if err := os.CopyFS(other, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, other, "dist/config/app.yaml", "port: 8081\n", 0o644)

	chunk := func(b []byte, i int) []byte { return b[headerSize+i*blockSize : headerSize+(i+1)*blockSize] }
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *Store, digest, otherDigest string) *Store
		// reason is what the error says, so each case shows which check caught it, not only
		// that the final hash comparison would have.
		reason string
	}{
		{"flipped byte in the magic", bytesTamper(func(b, _ []byte) []byte { b[0] ^= 1; return b }), "does not start with the artifact header"},
		{"flipped byte in the salt", bytesTamper(func(b, _ []byte) []byte { b[len(blobMagic)+3] ^= 0x80; return b }), "did not authenticate"},
		{"flipped byte in the first chunk", bytesTamper(func(b, _ []byte) []byte { b[headerSize+1234] ^= 1; return b }), "did not authenticate"},
		{"flipped byte in the last tag", bytesTamper(func(b, _ []byte) []byte { b[len(b)-1] ^= 1; return b }), "did not authenticate"},
		{"truncated by one byte", bytesTamper(func(b, _ []byte) []byte { return b[:len(b)-1] }), "did not authenticate"},
		{"truncated at a chunk boundary", bytesTamper(func(b, _ []byte) []byte { return b[:headerSize+2*blockSize] }), "the last chunk, 1, did not authenticate"},
		{"truncated to the header", bytesTamper(func(b, _ []byte) []byte { return b[:headerSize] }), "the blob ends inside chunk 0"},
		{"truncated inside the header", bytesTamper(func(b, _ []byte) []byte { return b[:10] }), "shorter than its 40-byte header"},
		{"emptied", bytesTamper(func(b, _ []byte) []byte { return nil }), "the blob is 0 bytes"},
		{"appended byte", bytesTamper(func(b, _ []byte) []byte { return append(b, 0) }), "did not authenticate"},
		{"appended chunk", bytesTamper(func(b, _ []byte) []byte { return append(b, chunk(b, 1)...) }), "did not authenticate"},
		{"chunks reordered", bytesTamper(func(b, _ []byte) []byte {
			first := slices.Clone(chunk(b, 0))
			copy(chunk(b, 0), chunk(b, 1))
			copy(chunk(b, 1), first)
			return b
		}), "did not authenticate"},
		{"chunk from another blob", bytesTamper(func(b, o []byte) []byte { copy(chunk(b, 1), chunk(o, 1)); return b }), "did not authenticate"},
		{"header from another blob", bytesTamper(func(b, o []byte) []byte { copy(b, o[:headerSize]); return b }), "did not authenticate"},
		{"blob renamed from another digest", bytesTamper(func(_, o []byte) []byte { return o }), "the last chunk, 2, did not authenticate"},
		{"wrong key", func(t *testing.T, s *Store, _, _ string) *Store {
			key := make([]byte, keySize)
			rand.Read(key)
			if err := os.WriteFile(filepath.Join(s.dir, keyFile), key, 0o600); err != nil {
				t.Fatal(err)
			}
			reopened, err := Open(s.dir)
			if err != nil {
				t.Fatal(err)
			}
			return reopened
		}, "chunk 0 did not authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			art, err := s.Put(root, []string{"dist"})
			if err != nil {
				t.Fatal(err)
			}
			otherArt, err := s.Put(other, []string{"dist"})
			if err != nil {
				t.Fatal(err)
			}
			if otherArt.Size != art.Size || otherArt.Digest == art.Digest {
				t.Fatalf("test setup: want two artifacts of one size, got %+v and %+v", art, otherArt)
			}
			if art.Size < 2*chunkSize {
				t.Fatalf("test setup: artifact of %d bytes has fewer than three chunks", art.Size)
			}
			s = tt.tamper(t, s, art.Digest, otherArt.Digest)

			err = s.Verify(art.Digest)
			wantCorrupt(t, err, art.Digest)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}

			rc, err := s.Open(art.Digest)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			wantCorrupt(t, err, art.Digest)

			parent := t.TempDir()
			dest := filepath.Join(parent, "v1")
			wantCorrupt(t, s.Unpack(art.Digest, dest), art.Digest)
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("a refused artifact left %v beside dest", entries)
			}
		})
	}
}

// bytesTamper rewrites the artifact's blob from its bytes and the other artifact's.
func bytesTamper(change func(blob, other []byte) []byte) func(*testing.T, *Store, string, string) *Store {
	return func(t *testing.T, s *Store, digest, otherDigest string) *Store {
		t.Helper()
		o, err := os.ReadFile(s.Path(otherDigest))
		if err != nil {
			t.Fatal(err)
		}
		rewrite(t, s, digest, func(b []byte) []byte { return change(b, o) })
		return s
	}
}

// TestUnpackRefusesUnsafeEntries stores archives that Pack never writes; they authenticate, so
// only Unpack's own checks stand between them and the file system.
func TestUnpackRefusesUnsafeEntries(t *testing.T) {
	file := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: 4}
	}
	dir := func(name string) *tar.Header { return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755} }
	link := func(name, target string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}
	}
	tests := []struct {
		name    string
		entries []*tar.Header
		reason  string
	}{
		{"parent", []*tar.Header{file("../evil")}, `contains ".."`},
		{"escaping through a directory", []*tar.Header{file("a/../../evil")}, `contains ".."`},
		{"dot-dot inside", []*tar.Header{file("a/../b")}, `contains ".."`},
		{"absolute", []*tar.Header{file("/tmp/evil")}, "absolute"},
		{"unclean", []*tar.Header{file("a//b")}, "not a clean relative path"},
		{"symlink leaving", []*tar.Header{link("l", "../evil")}, "outside the artifact"},
		{"absolute symlink", []*tar.Header{link("l", "/etc")}, "outside the artifact"},
		{"write through symlink", []*tar.Header{dir("sub/"), link("l", "sub"), file("l/x")}, `goes through the symlink "l"`},
		{"symlink chain leaving", []*tar.Header{link("self", "."), link("sneak", "self/self/../evil")}, "does not resolve to a path inside"},
		{"duplicate", []*tar.Header{file("a"), file("a")}, "appears twice"},
		{"device", []*tar.Header{{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}}, "only files, directories and symlinks"},
		{"hard link", []*tar.Header{file("a"), {Typeflag: tar.TypeLink, Name: "b", Linkname: "a"}}, "only files, directories and symlinks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			art, err := s.put(func(w io.Writer) (packStats, error) {
				tw := tar.NewWriter(w)
				for _, hdr := range tt.entries {
					if err := tw.WriteHeader(hdr); err != nil {
						return packStats{}, err
					}
					if hdr.Size > 0 {
						tw.Write([]byte("evil"))
					}
				}
				return packStats{}, tw.Close()
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(art.Digest); err != nil {
				t.Fatalf("the crafted blob should authenticate: %v", err)
			}
			parent := t.TempDir()
			dest := filepath.Join(parent, "sub", "dest")
			err = s.Unpack(art.Digest, dest)
			wantCorrupt(t, err, art.Digest)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			entries, _ := os.ReadDir(filepath.Join(parent, "sub"))
			if top, _ := os.ReadDir(parent); len(top) != 1 || len(entries) != 0 {
				t.Fatalf("a refused artifact left %v and %v", top, entries)
			}
		})
	}
}

func TestPutTwiceStoresOnce(t *testing.T) {
	root := sampleTree(t)
	s := newStore(t)
	first, err := s.Put(root, []string{"dist"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(s.Path(first.Digest))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Put(root, []string{"dist"})
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("second Put gave %+v, first %+v", second, first)
	}
	wantBlobs(t, s, 1)
	kept, err := os.Stat(s.Path(first.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(info, kept) {
		t.Fatal("the existing blob was replaced")
	}

	// A damaged blob is replaced by the next Put of the same artifact: rebuilding repairs it.
	rewrite(t, s, first.Digest, func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
	wantCorrupt(t, s.Verify(first.Digest), first.Digest)
	if _, err := s.Put(root, []string{"dist"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(first.Digest); err != nil {
		t.Fatalf("Put did not repair the damaged blob: %v", err)
	}
	wantBlobs(t, s, 1)
}

func wantBlobs(t *testing.T, s *Store, n int) {
	t.Helper()
	entries, err := os.ReadDir(s.blobDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("blob directory holds %v, want %d blob(s)", entries, n)
	}
}

func TestFailedPutLeavesNothing(t *testing.T) {
	root := sampleTree(t)
	s := newStore(t)
	_, err := s.Put(root, []string{"dist", "missing"})
	wantCode(t, err, sluice.ENOTFOUND, `"missing"`)
	wantBlobs(t, s, 0)
}

func TestKeyFile(t *testing.T) {
	t.Run("created private", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state", "artifacts")
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(dir, keyFile))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 || info.Size() != keySize {
			t.Fatalf("key file mode %v size %d, want 0600 and %d bytes", info.Mode(), info.Size(), keySize)
		}
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
			t.Fatalf("store directory mode %v (%v), want 0700", info.Mode(), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			t.Fatalf("store directory holds %v, want key and blobs only", entries)
		}
	})
	t.Run("kept across opens", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		art, err := s.Put(sampleTree(t), []string{"dist"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Verify(art.Digest); err != nil {
			t.Fatalf("a reopened store cannot read its artifact: %v", err)
		}
	})

	tests := []struct {
		name      string
		key       []byte
		mode      os.FileMode
		code      string
		fragments []string
	}{
		{"group readable", make([]byte, 32), 0o640, sluice.EINVALID, []string{"mode 0640", "chmod 600"}},
		{"world readable", make([]byte, 32), 0o604, sluice.EINVALID, []string{"mode 0604", "chmod 600"}},
		{"group writable", make([]byte, 32), 0o620, sluice.EINVALID, []string{"chmod 600"}},
		{"short", make([]byte, 31), 0o600, sluice.ECORRUPT, []string{"31 bytes instead of 32", "restore it from a backup"}},
		{"long", make([]byte, 33), 0o600, sluice.ECORRUPT, []string{"33 bytes instead of 32"}},
		{"empty", nil, 0o600, sluice.ECORRUPT, []string{"0 bytes instead of 32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, keyFile)
			if err := os.WriteFile(path, tt.key, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			wantCode(t, err, tt.code, append(tt.fragments, path)...)
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tt.key) {
				t.Fatal("Open changed a key file it refused")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, keyFile), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir)
		wantCode(t, err, sluice.EINVALID, "not a regular file")
	})
	t.Run("no directory", func(t *testing.T) {
		_, err := Open("")
		wantCode(t, err, sluice.EINVALID, "SLUICE_STATE")
	})
	t.Run("deleted with artifacts stored", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		art, err := s.Put(sampleTree(t), []string{"dist"})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, keyFile)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		for range 2 { // a refused open must not leave a new key behind for the next one
			_, err = Open(dir)
			wantCode(t, err, sluice.ECORRUPT, path, "missing", "1 artifacts are stored", "restore the key file")
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("Open created a new key beside stored artifacts (%v)", err)
		}
		if !s.Has(art.Digest) {
			t.Fatal("the stored blob went away")
		}
	})
	t.Run("deleted with no artifacts", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "store")
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, keyFile)); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err != nil {
			t.Fatalf("an empty store whose key was deleted should start with a new key: %v", err)
		}
	})
}

func TestDigestsAreChecked(t *testing.T) {
	s := newStore(t)
	hex := strings.Repeat("ab", 32)
	bad := map[string]string{
		"empty":         "",
		"prefix only":   "sha256:",
		"short":         "sha256:" + hex[:63],
		"long":          "sha256:" + hex + "0",
		"uppercase":     "sha256:" + strings.ToUpper(hex),
		"other hash":    "sha512:" + hex,
		"no prefix":     hex,
		"path":          "sha256:../../../../../../../../../../../../../../../../../../etc/passwd",
		"newline":       "sha256:" + hex + "\n",
		"not hex":       "sha256:" + strings.Repeat("zz", 32),
		"prefix spaced": " sha256:" + hex[1:],
	}
	for name, digest := range bad {
		t.Run(name, func(t *testing.T) {
			wantCode(t, CheckDigest(digest), sluice.EINVALID, "is not an artifact digest")
			wantCode(t, s.Verify(digest), sluice.EINVALID)
			wantCode(t, s.Unpack(digest, filepath.Join(t.TempDir(), "d")), sluice.EINVALID)
			if _, err := s.Open(digest); sluice.ErrorCode(err) != sluice.EINVALID {
				t.Fatalf("Open(%q): %v", digest, err)
			}
			if s.Has(digest) || s.Path(digest) != "" {
				t.Fatalf("Has or Path accepted %q", digest)
			}
		})
	}
	if err := CheckDigest("sha256:" + hex); err != nil {
		t.Fatal(err)
	}
}

func TestUnpackErrors(t *testing.T) {
	s := newStore(t)
	art, err := s.Put(sampleTree(t), []string{"dist"})
	if err != nil {
		t.Fatal(err)
	}
	missing := "sha256:" + strings.Repeat("0", 64)

	t.Run("not stored", func(t *testing.T) {
		parent := t.TempDir()
		wantCode(t, s.Unpack(missing, filepath.Join(parent, "d")), sluice.ENOTFOUND, "is not in the store", "rebuild it with sluice run")
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Fatalf("left %v", entries)
		}
		wantCode(t, s.Verify(missing), sluice.ENOTFOUND)
		if s.Has(missing) {
			t.Fatal("Has reports a blob that is not stored")
		}
	})
	t.Run("destination exists", func(t *testing.T) {
		dest := t.TempDir()
		writeFile(t, dest, "keep", "mine", 0o644)
		wantCode(t, s.Unpack(art.Digest, dest), sluice.ECONFLICT, "already exists")
		if b, err := os.ReadFile(filepath.Join(dest, "keep")); err != nil || string(b) != "mine" {
			t.Fatal("Unpack touched an existing destination")
		}
	})
	t.Run("empty destination", func(t *testing.T) {
		wantCode(t, s.Unpack(art.Digest, ""), sluice.EINVALID)
	})
	t.Run("zero store", func(t *testing.T) {
		var zero Store
		_, err := zero.Put(t.TempDir(), []string{"."})
		wantCode(t, err, sluice.EINTERNAL, "artifact.Open")
		wantCode(t, zero.Unpack(art.Digest, filepath.Join(t.TempDir(), "d")), sluice.EINTERNAL)
		if zero.Has(art.Digest) || zero.Path(art.Digest) != "" {
			t.Fatal("the zero Store claims a blob")
		}
	})
}

// TestContentMustHashToDigest seals a blob that binds a digest its content does not have, as a
// bug in the writer could: the authenticated encryption accepts it, the plaintext hash must not.
func TestContentMustHashToDigest(t *testing.T) {
	s := newStore(t)
	plain := []byte("these bytes do not hash to the digest below")
	digest := "sha256:" + strings.Repeat("5a", 32)
	header := append([]byte(blobMagic), make([]byte, saltSize)...)
	rand.Read(header[len(blobMagic):])
	aead, err := blobCipher(s.key, header)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [12]byte
	wrong := bytes.Repeat([]byte{0x5a}, 32)
	blob := aead.Seal(header, chunkNonce(&nonce, 0), plain, chunkAAD(nil, 0, true, wrong))
	if err := os.WriteFile(s.Path(digest), blob, 0o600); err != nil {
		t.Fatal(err)
	}
	err = s.Verify(digest)
	wantCorrupt(t, err, digest)
	if !strings.Contains(err.Error(), "does not hash to its digest") {
		t.Fatalf("refused for another reason: %v", err)
	}
}

// sparseTar is an archive whose one entry declares realSize bytes in PAX sparse format 1.0
// while the archive stores a single byte of it: every other byte is a hole that reads as zero.
// archive/tar does not write sparse entries, so the PAX header is written as a plain file and
// its type flag patched.
func sparseTar(t *testing.T, w io.Writer, realSize int64) error {
	t.Helper()
	record := func(kv string) string {
		for n := len(kv) + 3; ; n++ { // "<len> <kv>\n" where <len> counts itself
			if r := fmt.Sprintf("%d %s\n", n, kv); len(r) == n {
				return r
			}
		}
	}
	pax := record("GNU.sparse.major=1") + record("GNU.sparse.minor=0") + record("GNU.sparse.name=big") +
		record("GNU.sparse.realsize="+strconv.FormatInt(realSize, 10))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "PaxHeaders/big", Mode: 0o644, Size: int64(len(pax)), Format: tar.FormatUSTAR}); err != nil {
		return err
	}
	tw.Write([]byte(pax))
	sparseMap := make([]byte, 512)
	copy(sparseMap, "1\n0\n1\n") // one data region: offset 0, length 1
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "GNUSparseFile.0/big", Mode: 0o644, Size: 513, Format: tar.FormatUSTAR}); err != nil {
		return err
	}
	tw.Write(append(sparseMap, 'x'))
	if err := tw.Close(); err != nil {
		return err
	}
	b := buf.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	_, err := w.Write(b)
	return err
}

func TestUnpackIsBoundedBySize(t *testing.T) {
	tests := []struct {
		name     string
		realSize int64
		reason   string
	}{
		// Declared beyond the whole artifact: refused before a byte of it is written.
		{"64 GiB sparse entry", 64 << 30, "declares 68719476736 bytes"},
		// Within the artifact's size but still more than the archive stores for it.
		{"small sparse entry", 1500, "holds more bytes than the archive stores"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			art, err := s.put(func(w io.Writer) (packStats, error) { return packStats{}, sparseTar(t, w, tt.realSize) })
			if err != nil {
				t.Fatal(err)
			}
			// The archive reads back as one entry of realSize bytes: the reader expands holes.
			rc, err := s.Open(art.Digest)
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := tar.NewReader(rc).Next()
			rc.Close()
			if err != nil || hdr.Name != "big" || hdr.Size != tt.realSize {
				t.Fatalf("crafted archive reads as %+v, %v; want big of %d bytes", hdr, err, tt.realSize)
			}
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			err = s.Unpack(art.Digest, dest)
			wantCorrupt(t, err, art.Digest)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
			if top, _ := os.ReadDir(parent); len(top) != 0 {
				t.Fatalf("a refused artifact left %v", top)
			}
		})
	}
	t.Run("Extract", func(t *testing.T) {
		var buf bytes.Buffer
		if err := sparseTar(t, &buf, 64<<30); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		err := Extract(dir, &buf)
		wantCode(t, err, sluice.EINVALID, "holds more bytes than the archive stores")
		if info, err := os.Stat(filepath.Join(dir, "big")); err == nil && info.Size() > 1<<20 {
			t.Fatalf("Extract wrote %d bytes of a sparse entry", info.Size())
		}
	})
}

func TestDeriveKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.DeriveKey("secret hashes"), s.DeriveKey("something else")
	if len(a) != keySize || bytes.Equal(a, b) {
		t.Fatalf("derived keys %x and %x: want 32 bytes, different per purpose", a, b)
	}
	again, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.DeriveKey("secret hashes"), a) {
		t.Fatal("the derived key changed across opens, so every secret would look rotated")
	}
	if newStore(t).DeriveKey("secret hashes") == nil || bytes.Equal(newStore(t).DeriveKey("secret hashes"), a) {
		t.Fatal("another store derived the same key")
	}
	if (&Store{}).DeriveKey("x") != nil {
		t.Fatal("a store that is not open derived a key")
	}
}
