package artifact

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestPackIsDeterministic(t *testing.T) {
	// Two copies of the same tree made differently: other mtimes, other permission bits that
	// mean the same thing (what different umasks produce), other creation order.
	a := t.TempDir()
	writeFile(t, a, "dist/app", "binary", 0o755)
	writeFile(t, a, "dist/lib/data.txt", "data", 0o644)
	writeFile(t, a, "dist/lib/more.txt", "more", 0o644)
	symlink(t, a, "dist/link", "lib/data.txt")

	b := t.TempDir()
	writeFile(t, b, "dist/lib/more.txt", "more", 0o600)
	symlink(t, b, "dist/link", "lib/data.txt")
	writeFile(t, b, "dist/lib/data.txt", "data", 0o640)
	writeFile(t, b, "dist/app", "binary", 0o700)
	if err := os.Chmod(filepath.Join(b, "dist", "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	for _, name := range []string{"dist/app", "dist/lib/data.txt", "dist/lib", "dist"} {
		if err := os.Chtimes(filepath.Join(b, filepath.FromSlash(name)), old, old); err != nil {
			t.Fatal(err)
		}
	}

	first := packBytes(t, a, "dist/")
	if again := packBytes(t, a, "dist/"); !bytes.Equal(first, again) {
		t.Fatal("packing the same tree twice gave different bytes")
	}
	if other := packBytes(t, b, "dist"); !bytes.Equal(first, other) {
		t.Fatalf("packing an equivalent tree gave different bytes: sha256 %x and %x", sha256.Sum256(first), sha256.Sum256(other))
	}
	// Naming a subtree again, or in another order, changes nothing.
	if other := packBytes(t, b, "dist/lib", "dist"); !bytes.Equal(first, other) {
		t.Fatal("overlapping paths changed the archive")
	}

	s := newStore(t)
	artA, err := s.Put(a, []string{"dist/"})
	if err != nil {
		t.Fatal(err)
	}
	artB, err := s.Put(b, []string{"dist"})
	if err != nil {
		t.Fatal(err)
	}
	if artA != artB {
		t.Fatalf("equivalent trees stored as %+v and %+v", artA, artB)
	}
	if want := "sha256:" + hexSum(first); artA.Digest != want {
		t.Fatalf("digest %s is not the sha256 of the packed bytes, %s", artA.Digest, want)
	}
	if artA.Size != int64(len(first)) || artA.Files != 3 {
		t.Fatalf("got %+v, want size %d and 3 files", artA, len(first))
	}

	tests := []struct {
		name   string
		change func(t *testing.T, root string)
	}{
		{"content", func(t *testing.T, root string) { writeFile(t, root, "dist/lib/data.txt", "dati", 0o644) }},
		{"exec bit", func(t *testing.T, root string) { os.Chmod(filepath.Join(root, "dist", "lib", "data.txt"), 0o755) }},
		{"new file", func(t *testing.T, root string) { writeFile(t, root, "dist/new", "", 0o644) }},
		{"new empty dir", func(t *testing.T, root string) { os.Mkdir(filepath.Join(root, "dist", "new"), 0o755) }},
		{"renamed file", func(t *testing.T, root string) {
			os.Rename(filepath.Join(root, "dist", "app"), filepath.Join(root, "dist", "app2"))
		}},
		{"symlink target", func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, "dist", "link"))
			symlink(t, root, "dist/link", "lib/more.txt")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS(a)); err != nil {
				t.Fatal(err)
			}
			if same := packBytes(t, root, "dist"); !bytes.Equal(first, same) {
				t.Fatal("the copy differs before any change")
			}
			tt.change(t, root)
			art, err := s.Put(root, []string{"dist"})
			if err != nil {
				t.Fatal(err)
			}
			if art.Digest == artA.Digest {
				t.Fatalf("a changed %s kept the digest %s", tt.name, art.Digest)
			}
		})
	}
}

func TestPackHeaders(t *testing.T) {
	root := sampleTree(t)
	tr := tar.NewReader(bytes.NewReader(packBytes(t, root, "dist/config/deep", "dist")))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		if !hdr.ModTime.Equal(time.Unix(0, 0)) || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: header carries the build machine: %+v", hdr.Name, hdr)
		}
		want := map[byte]int64{tar.TypeDir: 0o755, tar.TypeSymlink: 0o777}[hdr.Typeflag]
		switch hdr.Name {
		case "dist/app":
			want = 0o755
		case "dist/big.bin", "dist/config/app.yaml", "dist/config/deep/er/notes.txt":
			want = 0o644
		}
		if hdr.Mode != want {
			t.Errorf("%s: mode %o, want %o", hdr.Name, hdr.Mode, want)
		}
	}
	want := []string{
		"dist/", "dist/app", "dist/big.bin", "dist/config/", "dist/config/app.yaml",
		"dist/config/deep/", "dist/config/deep/er/", "dist/config/deep/er/notes.txt",
		"dist/current", "dist/empty/",
	}
	if len(names) != len(want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("entries %q, want %q", names, want)
		}
	}
}

func TestPackParentsOfNestedPath(t *testing.T) {
	root := sampleTree(t)
	tr := tar.NewReader(bytes.NewReader(packBytes(t, root, "dist/config/deep/er/notes.txt")))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	want := "[dist/ dist/config/ dist/config/deep/ dist/config/deep/er/ dist/config/deep/er/notes.txt]"
	if got := fmtList(names); got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
}

func fmtList(s []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
	}
	b.WriteByte(']')
	return b.String()
}

func TestPackRefuses(t *testing.T) {
	root := sampleTree(t)
	outside := t.TempDir()
	writeFile(t, outside, "secret", "s3cret", 0o644)
	symlink(t, root, "dist/abs", filepath.Join(outside, "secret"))
	symlink(t, root, "escape/up", "../../secret")
	symlink(t, root, "readme/link", "../README.md")
	symlink(t, root, "dangling/link", "nothing-here")
	symlink(t, root, "linked-dist", "dist")
	// A link that looks inside when read as text but resolves outside: self points at its own
	// directory, so tricky/self/self/.. is the checkout itself, not tricky/self.
	symlink(t, root, "tricky/self", ".")
	symlink(t, root, "tricky/sneak", "self/self/../README.md")

	tests := []struct {
		name      string
		paths     []string
		code      string
		fragments []string
	}{
		{"no paths", nil, sluice.EINVALID, []string{"build.artifact"}},
		{"empty path", []string{""}, sluice.EINVALID, []string{"empty"}},
		{"absolute", []string{"/etc/passwd"}, sluice.EINVALID, []string{`"/etc/passwd" is absolute`}},
		{"parent", []string{".."}, sluice.EINVALID, []string{"leaves the checkout"}},
		{"escaping", []string{"dist/../../x"}, sluice.EINVALID, []string{`"dist/../../x" leaves the checkout`}},
		{"missing", []string{"dist/app", "build/out"}, sluice.ENOTFOUND, []string{`"build/out" does not exist`, "the build did not produce it"}},
		{"missing file in dist", []string{"dist/nope"}, sluice.ENOTFOUND, []string{`"dist/nope"`, "did not produce"}},
		{"absolute symlink", []string{"dist"}, sluice.EINVALID, []string{`"dist/abs" is a symlink`, "absolute"}},
		{"symlink leaving root", []string{"escape"}, sluice.EINVALID, []string{`"escape/up"`, "outside the packed paths"}},
		{"symlink to unpacked file", []string{"readme"}, sluice.EINVALID, []string{`"readme/link"`, "outside the packed paths"}},
		{"dangling symlink", []string{"dangling"}, sluice.EINVALID, []string{`"dangling/link"`, "does not exist"}},
		{"symlink chain leaving root", []string{"tricky"}, sluice.EINVALID, []string{`"tricky/sneak"`, "resolves outside"}},
		{"through symlinked parent", []string{"linked-dist/app"}, sluice.EINVALID, []string{`goes through "linked-dist"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Pack(&buf, root, tt.paths)
			wantCode(t, err, tt.code, tt.fragments...)
			if buf.Len() != 0 {
				t.Errorf("%d bytes written before the error", buf.Len())
			}
		})
	}
}

func TestPackSymlinkTopLevel(t *testing.T) {
	root := sampleTree(t)
	symlink(t, root, "latest", "dist")
	tr := tar.NewReader(bytes.NewReader(packBytes(t, root, "latest", "dist")))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatal("no entry for latest")
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "latest" {
			if hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "dist" {
				t.Fatalf("latest stored as %+v, want a symlink to dist", hdr)
			}
			return
		}
	}
}

func hexSum(b []byte) string {
	sum := sha256.Sum256(b)
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 64)
	for _, c := range sum {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestPackLeavesOutGitMetadata: `artifact: [.]` packs what was built, not the checkout's .git.
func TestPackLeavesOutGitMetadata(t *testing.T) {
	root := t.TempDir()
	for name, body := range map[string]string{"app": "binary", ".git/HEAD": "ref: refs/heads/main", "sub/.git/config": "[core]"} {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr := tar.NewReader(bytes.NewReader(packBytes(t, root, ".")))
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	if got, want := fmtList(names), "[app sub/]"; got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
}

func TestExtract(t *testing.T) {
	dest := t.TempDir()
	if err := Extract(dest, bytes.NewReader(packBytes(t, sampleTree(t), "dist/"))); err != nil {
		t.Fatalf("extract what Pack made: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "dist")); err != nil {
		t.Fatalf("extracted tree lacks dist/: %v", err)
	}

	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	_ = tw.WriteHeader(&tar.Header{Name: "../escaped", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	outside := t.TempDir()
	dir := filepath.Join(outside, "in")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := Extract(dir, &evil)
	if sluice.ErrorCode(err) != sluice.EINVALID {
		t.Fatalf("an entry leaving the directory: %v, want %s", err, sluice.EINVALID)
	}
	if _, err := os.Stat(filepath.Join(outside, "escaped")); err == nil {
		t.Fatal("the entry was written outside the directory")
	}
}
