package artifact

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
)

// Unpack restores the artifact of digest into dest, which must not exist yet; its parent is
// created if needed. Files are extracted into a temporary directory beside dest, and only once
// the whole blob has decrypted, authenticated and hashed to digest is that directory renamed to
// dest: a damaged artifact (ECORRUPT) or a failure half way leaves nothing at dest.
//
// Unpack refuses, with ECORRUPT, archive entries that are absolute, contain "..", pass through a
// symlink, repeat, are not files, directories or symlinks, or are symlinks that point outside
// dest — even in a blob that authenticated, because the key could have been used by something
// other than Pack. Files get mode 0755 or 0644 and directories 0755, whatever the umask.
//
// What Unpack writes is bounded by the artifact's size: the files of an archive made by Pack
// hold no more bytes than the archive itself, so an entry that declares more (a sparse entry
// expanding to 64 GiB, a forged size) is refused with ECORRUPT before anything is written for
// it, and a file that grows past what was read is cut off and refused.
func (s *Store) Unpack(digest, dest string) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := CheckDigest(digest); err != nil {
		return err
	}
	if dest == "" {
		return sluice.Errorf(sluice.EINVALID, "the destination to unpack artifact %s into is empty; name a new directory", shortDigest(digest))
	}
	if _, err := os.Lstat(dest); err == nil {
		return sluice.Errorf(sluice.ECONFLICT,
			"cannot unpack artifact %s into %s: it already exists; remove it or unpack into a new directory", shortDigest(digest), dest)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	rc, err := s.open(digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	limit := int64(-1)
	if info, err := rc.file.Stat(); err == nil {
		limit = plaintextSize(info.Size())
	}

	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dest)+".unpack-*")
	if err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	placed := false
	defer func() {
		if !placed {
			os.RemoveAll(tmp)
		}
	}()
	corrupt := corruptError(digest)
	if err := extract(tmp, rc, limit, corrupt); err != nil {
		return err
	}
	// The tar ends before the plaintext does (padding); reading to io.EOF is what completes
	// the verification of the last chunk and of the digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	if err := os.Chmod(tmp, modeDir); err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	placed = true
	return syncDir(parent)
}

// Extract writes a tar made by Pack, read from r, into the directory dir, with the same checks
// Unpack makes: no absolute paths, "..", repeated entries, links through or out of dir, or
// entries other than files, directories and symlinks, and no file content beyond what was read
// (sparse entries). A bad archive is an EINVALID error.
func Extract(dir string, r io.Reader) error {
	return extract(dir, r, -1, func(reason string) error {
		return sluice.Errorf(sluice.EINVALID, "the archive cannot be extracted into %s: %s", dir, reason)
	})
}

// extract writes the archive in r below dir through an os.Root, so that even a mistake in the
// checks below cannot write outside dir. If limit is not negative, the files together may hold
// at most limit bytes.
func extract(dir string, r io.Reader, limit int64, corrupt corruptFunc) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	defer root.Close()
	raw := &countingReader{r: r}
	x := extractor{root: root, corrupt: corrupt, seen: map[string]bool{}, links: map[string]bool{}, buf: make([]byte, copyBufferSize), raw: raw, limit: limit}
	tr := tar.NewReader(raw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.readError(err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.checkLinks(dir)
}

type extractor struct {
	root    *os.Root
	corrupt corruptFunc
	seen    map[string]bool
	links   map[string]bool
	buf     []byte

	// raw counts the archive's bytes read so far; written counts the file bytes written. A file
	// in a plain tar is stored whole, so while it is copied it cannot grow faster than raw: only
	// a sparse entry can, whose holes read as zeros that were never in the archive.
	raw     *countingReader
	written int64
	limit   int64 // the most the files may hold together; negative if unknown
}

// plaintextSize is the length of the archive a blob of blobSize bytes holds: the blob less its
// header and one authentication tag per chunk. A blob too short to be valid gives 0; its
// verification fails anyway.
func plaintextSize(blobSize int64) int64 {
	body := blobSize - int64(headerSize)
	if body <= 0 {
		return 0
	}
	chunks := max(1, (body+blockSize-1)/blockSize)
	return max(0, body-chunks*tagSize)
}

// readError keeps the blob's own verification error, which says more than tar's view of it.
func (x *extractor) readError(err error) error {
	var se *sluice.Error
	if errors.As(err, &se) {
		return err
	}
	return x.corrupt(fmt.Sprintf("its archive is not a valid tar: %v", err))
}

func (x *extractor) entry(hdr *tar.Header, tr *tar.Reader) error {
	name, err := x.safeName(hdr.Name)
	if err != nil {
		return err
	}
	native := filepath.FromSlash(name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(native, modeDir); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		if err := x.root.Chmod(native, modeDir); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
	case tar.TypeReg:
		if err := x.parents(name); err != nil {
			return err
		}
		if hdr.Size < 0 || (x.limit >= 0 && hdr.Size > x.limit-x.written) {
			return x.corrupt(fmt.Sprintf("entry %q declares %d bytes, more than the artifact's %d bytes can hold (a sparse or forged entry)",
				truncate(name, 200), hdr.Size, x.limit))
		}
		mode := fs.FileMode(modeRegular)
		if hdr.Mode&0o111 != 0 {
			mode = modeExec
		}
		if err := x.writeFile(name, native, mode, tr); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := x.parents(name); err != nil {
			return err
		}
		target := hdr.Linkname
		if target == "" || path.IsAbs(target) || filepath.IsAbs(target) || !filepath.IsLocal(filepath.FromSlash(path.Join(path.Dir(name), target))) {
			return x.corrupt(fmt.Sprintf("symlink %q points to %q, outside the artifact", truncate(name, 200), truncate(target, 200)))
		}
		if err := x.root.Symlink(filepath.FromSlash(target), native); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
		x.links[name] = true
	default:
		return x.corrupt(fmt.Sprintf("entry %q has tar type %q; an artifact holds only files, directories and symlinks", truncate(name, 200), hdr.Typeflag))
	}
	return nil
}

// safeName refuses names that could land outside the destination or on top of another entry.
func (x *extractor) safeName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, "/")
	unsafe := func(why string) error {
		return x.corrupt(fmt.Sprintf("entry %q %s", truncate(raw, 200), why))
	}
	if name == "" || path.IsAbs(name) || filepath.IsAbs(name) {
		return "", unsafe("is empty or absolute")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", unsafe("contains \"..\"")
		}
	}
	if path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", unsafe("is not a clean relative path")
	}
	for p := path.Dir(name); p != "."; p = path.Dir(p) {
		if x.links[p] {
			return "", unsafe(fmt.Sprintf("goes through the symlink %q", p))
		}
	}
	if x.seen[name] {
		return "", unsafe("appears twice")
	}
	x.seen[name] = true
	return name, nil
}

func (x *extractor) parents(name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := x.root.MkdirAll(filepath.FromSlash(dir), modeDir); err != nil {
			return fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	return nil
}

func (x *extractor) writeFile(name, native string, mode fs.FileMode, r io.Reader) error {
	// O_EXCL: a file is never written through something already there.
	f, err := x.root.OpenFile(native, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	// The wrappers hide ReadFrom and WriteTo so the large buffer is used, and tell a damaged
	// archive (read side) from a full disk (write side).
	src := &readErrors{r: r}
	dst := &boundedWriter{w: f, x: x, rawStart: x.raw.n}
	if _, err := io.CopyBuffer(dst, src, x.buf); err != nil {
		f.Close()
		if src.err != nil {
			return x.readError(src.err)
		}
		if dst.over {
			return x.corrupt(fmt.Sprintf("entry %q holds more bytes than the archive stores for it (a sparse entry); it is refused", truncate(name, 200)))
		}
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	// Synced before the rename publishes it: after a crash, dest holds whole files or nothing.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	// The umask must not take away the execute bit a service needs.
	if err := x.root.Chmod(native, mode); err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	return nil
}

// checkLinks resolves every symlink once the tree is complete: each one was checked as written,
// but a chain of links can still resolve outside the tree.
func (x *extractor) checkLinks(dir string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("unpack artifact: %w", err)
	}
	for name := range x.links {
		// Pack stores only links that resolve inside the packed tree, so a link that resolves to
		// nothing here is as suspect as one that leaves: its target could appear later, outside.
		resolved, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.FromSlash(name)))
		var rel string
		if err == nil {
			rel, err = filepath.Rel(realDir, resolved)
		}
		if err != nil || (rel != "." && !filepath.IsLocal(rel)) {
			return x.corrupt(fmt.Sprintf("symlink %q does not resolve to a path inside the artifact", truncate(name, 200)))
		}
	}
	return nil
}

// readErrors remembers the error its reader returned.
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// boundedWriter writes file content while the extractor's total stays within what the archive
// held; it also hides the file's ReadFrom so the extractor's buffer is used.
type boundedWriter struct {
	w        io.Writer
	x        *extractor
	rawStart int64 // the archive bytes read before this file's content
	n        int64 // this file's bytes written
	over     bool
}

var errExpands = errors.New("file content beyond the archive's bytes")

func (b *boundedWriter) Write(p []byte) (int, error) {
	x := b.x
	if b.n+int64(len(p)) > x.raw.n-b.rawStart || (x.limit >= 0 && x.written+int64(len(p)) > x.limit) {
		b.over = true
		return 0, errExpands
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	x.written += int64(n)
	return n, err
}
