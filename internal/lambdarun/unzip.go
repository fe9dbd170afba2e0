package lambdarun

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/sluicehq/sluice"
)

// maxEntries bounds the files of one code zip, so a zip of millions of empty files cannot
// exhaust the disk's inodes while staying under the size limit.
const maxEntries = 50000

// maxLinkTarget bounds what a symbolic link entry may hold.
const maxLinkTarget = 4096

// unzip writes the zip code into dir, which must exist and be empty. Every entry must stay
// inside dir (no absolute paths, no "..", no link pointing out), and the files together may
// hold at most limit bytes: the limit counts the bytes actually written, not what the entries
// claim, so a lying header cannot get past it.
func unzip(code []byte, dir string, limit int64) error {
	zr, err := zip.NewReader(bytes.NewReader(code), int64(len(code)))
	if err != nil {
		return sluice.Errorf(sluice.EINVALID, "the function's code is not a zip archive (%v); upload a .zip with bootstrap at its top level", err)
	}
	if len(zr.File) > maxEntries {
		return sluice.Errorf(sluice.EINVALID, "the function's code zip holds %d entries, more than the %d Sluice unpacks; zip only what the function needs", len(zr.File), maxEntries)
	}
	var claimed uint64
	for _, f := range zr.File {
		claimed += f.UncompressedSize64
	}
	if claimed > uint64(limit) {
		return tooLarge(limit)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the function's folder: %w", err)
	}
	defer root.Close()
	remaining := limit
	for _, f := range zr.File {
		name, err := entryName(f.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the archive's own top folder, "./"
		}
		mode := f.Mode()
		switch {
		case mode.IsDir():
			err = root.MkdirAll(name, 0o755)
		case mode&fs.ModeSymlink != 0:
			err = writeLink(root, f, name)
		case mode.IsRegular():
			var n int64
			n, err = writeFile(root, f, name, remaining)
			remaining -= n
		default:
			return sluice.Errorf(sluice.EINVALID, "entry %q of the function's code zip is a %s, which Lambda does not unpack; zip regular files, folders and links only", f.Name, mode.Type())
		}
		if errors.Is(err, errTooLarge) {
			return tooLarge(limit)
		}
		if err != nil {
			var serr *sluice.Error
			if errors.As(err, &serr) {
				return err
			}
			return sluice.Errorf(sluice.EINVALID, "unpack entry %q of the function's code zip: %v", f.Name, err)
		}
	}
	return nil
}

// entryName is the clean, slash-separated path of a zip entry inside the function's folder,
// or an error when it would land outside it.
func entryName(raw string) (string, error) {
	name := strings.TrimSuffix(raw, "/")
	if strings.HasPrefix(name, "./") {
		name = strings.TrimPrefix(name, "./")
	}
	if name == "" || name == "." {
		return "", nil
	}
	if strings.ContainsAny(name, "\\\x00") || path.IsAbs(name) || !fs.ValidPath(name) {
		return "", sluice.Errorf(sluice.EINVALID, "entry %q of the function's code zip would be written outside the function's folder; zip paths must be relative, with '/' and without '..'", raw)
	}
	return name, nil
}

// errTooLarge stops writing a file once the code has gone over its size limit.
var errTooLarge = errors.New("over the size limit")

func tooLarge(limit int64) error {
	return sluice.Errorf(sluice.EINVALID, "the function's code unzips to more than %d bytes, over the limit for code unzipped (Lambda's is 250 MB); leave build output and test data out of the zip", limit)
}

// writeFile writes the entry f at name and returns how many bytes it wrote; it stops with an
// error once more than remaining bytes came out. The executable bit is kept: a bootstrap
// needs it.
func writeFile(root *os.Root, f *zip.File, name string, remaining int64) (int64, error) {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return 0, err
	}
	perm := fs.FileMode(0o644)
	if f.Mode()&0o111 != 0 {
		perm = 0o755
	}
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return 0, sluice.Errorf(sluice.EINVALID, "entry %q appears twice in the function's code zip; zip each file once", f.Name)
	}
	if err != nil {
		return 0, err
	}
	in, err := f.Open()
	if err != nil {
		out.Close()
		return 0, err
	}
	defer in.Close()
	// Reading to the end lets archive/zip check the entry's CRC-32.
	n, err := io.Copy(out, io.LimitReader(in, remaining+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if n > remaining {
		return n, errTooLarge
	}
	return n, err
}

// writeLink creates the symbolic link entry f at name, when its target stays inside the
// function's folder.
func writeLink(root *os.Root, f *zip.File, name string) error {
	in, err := f.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	raw, err := io.ReadAll(io.LimitReader(in, maxLinkTarget+1))
	if err != nil {
		return err
	}
	target := string(raw)
	resolved := path.Join(path.Dir(name), target)
	if len(raw) > maxLinkTarget || target == "" || path.IsAbs(target) || strings.ContainsAny(target, "\\\x00") ||
		resolved == ".." || strings.HasPrefix(resolved, "../") {
		return sluice.Errorf(sluice.EINVALID, "entry %q of the function's code zip is a link to %q, outside the function's folder; zip the file itself instead of a link", f.Name, target)
	}
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	return root.Symlink(target, name)
}
