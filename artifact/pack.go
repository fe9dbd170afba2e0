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
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Modes written into every archive: a reader learns whether a file is executable and nothing
// else, so the umask and the ownership of the build machine never change the digest.
const (
	modeDir     = 0o755
	modeExec    = 0o755
	modeRegular = 0o644
	modeSymlink = 0o777
)

// epoch is the modification time of every entry, so rebuilding the same bytes gives the same digest.
var epoch = time.Unix(0, 0)

// copyBufferSize is large so that a file is read in few system calls and the tar stream reaches
// the encrypter in chunk-sized writes.
const copyBufferSize = 1 << 20

// Pack writes an uncompressed tar archive of paths to w. Paths are relative to root, use '/' or
// the system separator, and may name files, directories (packed with everything below them, a
// trailing slash is fine), or symlinks (stored as symlinks). The same tree always gives the same
// bytes: entries are sorted by path, every mtime is the Unix epoch, owners are 0 with no names,
// and modes are normalised to 0755 (directories and files with any execute bit) or 0644.
//
// Pack refuses, with a *sluice.Error, absolute paths and paths that leave root (EINVALID), paths
// that do not exist (ENOTFOUND: the build did not produce them), symlinks that point outside the
// packed paths or to nothing (EINVALID), and devices, sockets and pipes (EINVALID). Nothing is
// written to w before every path has been checked.
func Pack(w io.Writer, root string, paths []string) error {
	_, err := pack(w, root, paths)
	return err
}

// entry is one member of the archive, named relative to root with '/' and no trailing slash.
type entry struct {
	name     string
	typeflag byte
	mode     int64
	size     int64
	linkname string
}

// packStats is what Put reports about an archive beyond its bytes.
type packStats struct {
	files int
}

func pack(w io.Writer, root string, paths []string) (packStats, error) {
	entries, err := collect(root, paths)
	if err != nil {
		return packStats{}, err
	}
	tw := tar.NewWriter(w)
	buf := make([]byte, copyBufferSize)
	var stats packStats
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.typeflag,
			Name:     e.name,
			Linkname: e.linkname,
			Mode:     e.mode,
			Size:     e.size,
			ModTime:  epoch,
		}
		if e.typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return stats, fmt.Errorf("write tar header for %s: %w", e.name, err)
		}
		if e.typeflag == tar.TypeReg {
			if err := copyFile(tw, filepath.Join(root, filepath.FromSlash(e.name)), e, buf); err != nil {
				return stats, err
			}
			stats.files++
		}
	}
	if err := tw.Close(); err != nil {
		return stats, fmt.Errorf("finish tar archive: %w", err)
	}
	return stats, nil
}

func copyFile(w io.Writer, full string, e entry, buf []byte) error {
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", e.name, err)
	}
	// The header already promised a size; a file swapped or resized since the walk would make
	// the archive lie, so packing stops instead.
	if !info.Mode().IsRegular() || info.Size() != e.size {
		return sluice.Errorf(sluice.ECONFLICT,
			"artifact path %q changed while it was being packed; make sure nothing writes to the build outputs after the build commands finish, then run again", e.name)
	}
	// LimitReader hides *os.File's WriterTo, so CopyBuffer really uses the large buffer.
	n, err := io.CopyBuffer(w, io.LimitReader(f, e.size), buf)
	if err != nil {
		return fmt.Errorf("pack %s: %w", e.name, err)
	}
	if n != e.size {
		return sluice.Errorf(sluice.ECONFLICT,
			"artifact path %q shrank while it was being packed; make sure nothing writes to the build outputs after the build commands finish, then run again", e.name)
	}
	return nil
}

// collect checks every path and returns the archive's entries, sorted, without duplicates.
func collect(root string, paths []string) ([]entry, error) {
	if len(paths) == 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "no artifact paths were given; list the build outputs to keep under build.artifact")
	}
	tops := make([]string, 0, len(paths))
	for _, p := range paths {
		top, err := cleanRelative(p)
		if err != nil {
			return nil, err
		}
		tops = append(tops, top)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sluice.Errorf(sluice.ENOTFOUND, "the directory %s to pack the artifact from does not exist; the build must run in it", root)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve artifact root %s: %w", root, err)
	}
	c := collector{root: root, realRoot: realRoot, tops: tops, entries: map[string]entry{}}
	for i, top := range tops {
		if err := c.addTop(paths[i], top); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(c.entries))
	for name := range c.entries {
		names = append(names, name)
	}
	// A parent is a prefix of its children, so plain byte order puts every directory first.
	slices.Sort(names)
	out := make([]entry, len(names))
	for i, name := range names {
		out[i] = c.entries[name]
	}
	return out, nil
}

// cleanRelative turns a user's artifact path into a slash-separated path inside root; "." is root.
func cleanRelative(p string) (string, error) {
	if p == "" {
		return "", sluice.Errorf(sluice.EINVALID, "an artifact path is empty; name a file or directory the build produces, relative to the checkout, such as dist/")
	}
	slashed := filepath.ToSlash(p)
	if filepath.IsAbs(p) || strings.HasPrefix(slashed, "/") {
		return "", sluice.Errorf(sluice.EINVALID,
			"artifact path %q is absolute; artifact paths are relative to the checkout, such as dist/", p)
	}
	clean := path.Clean(slashed)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", sluice.Errorf(sluice.EINVALID,
			"artifact path %q leaves the checkout; artifact paths must stay inside it, such as dist/", p)
	}
	return clean, nil
}

type collector struct {
	root     string
	realRoot string
	tops     []string
	entries  map[string]entry
}

func (c *collector) full(name string) string {
	return filepath.Join(c.root, filepath.FromSlash(name))
}

func (c *collector) addTop(original, top string) error {
	// Parents must be real directories: a symlinked parent could make dist/app mean a file
	// anywhere on the machine, and the archive could not reproduce the link anyway.
	if top != "." {
		parts := strings.Split(top, "/")
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], "/")
			info, err := os.Lstat(c.full(parent))
			if errors.Is(err, fs.ErrNotExist) {
				return notProduced(original, c.root)
			}
			if err != nil {
				return fmt.Errorf("stat artifact path %s: %w", parent, err)
			}
			if !info.IsDir() {
				return sluice.Errorf(sluice.EINVALID,
					"artifact path %q goes through %q, which is not a directory (a symlink or a file); name the real directory instead", original, parent)
			}
			c.entries[parent] = entry{name: parent, typeflag: tar.TypeDir, mode: modeDir}
		}
	}
	info, err := os.Lstat(c.full(top))
	if errors.Is(err, fs.ErrNotExist) {
		return notProduced(original, c.root)
	}
	if err != nil {
		return fmt.Errorf("stat artifact path %s: %w", original, err)
	}
	if !info.IsDir() {
		return c.add(top, info)
	}
	return filepath.WalkDir(c.full(top), func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk artifact path %s: %w", original, err)
		}
		rel, err := filepath.Rel(c.root, full)
		if err != nil {
			return fmt.Errorf("walk artifact path %s: %w", original, err)
		}
		name := filepath.ToSlash(rel)
		if name == "." {
			return nil
		}
		// A checkout is a git repository: its metadata (with a link to the user's own
		// repository) is never part of what was built.
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", name, err)
		}
		return c.add(name, info)
	})
}

func notProduced(original, root string) error {
	return sluice.Errorf(sluice.ENOTFOUND,
		"artifact path %q does not exist in %s: the build did not produce it; check that build.commands write it and that build.artifact names it correctly", original, root)
}

func (c *collector) add(name string, info fs.FileInfo) error {
	mode := info.Mode()
	switch {
	case mode.IsDir():
		c.entries[name] = entry{name: name, typeflag: tar.TypeDir, mode: modeDir}
	case mode.IsRegular():
		perm := int64(modeRegular)
		if mode.Perm()&0o111 != 0 {
			perm = modeExec
		}
		c.entries[name] = entry{name: name, typeflag: tar.TypeReg, mode: perm, size: info.Size()}
	case mode&fs.ModeSymlink != 0:
		target, err := c.checkSymlink(name)
		if err != nil {
			return err
		}
		c.entries[name] = entry{name: name, typeflag: tar.TypeSymlink, mode: modeSymlink, linkname: target}
	default:
		return sluice.Errorf(sluice.EINVALID,
			"artifact path %q is a %s; an artifact holds only files, directories and symlinks, so leave it out of build.artifact", name, kindOf(mode))
	}
	return nil
}

// checkSymlink returns the link's target if it stays inside the packed paths both as written
// and as the file system resolves it; otherwise the unpacked artifact could reach outside itself.
func (c *collector) checkSymlink(name string) (string, error) {
	target, err := os.Readlink(c.full(name))
	if err != nil {
		return "", fmt.Errorf("read symlink %s: %w", name, err)
	}
	outside := func(why string) error {
		return sluice.Errorf(sluice.EINVALID,
			"artifact path %q is a symlink to %q, which %s; an artifact must be self-contained, so copy the file into the artifact or pack its target too", name, target, why)
	}
	slashed := filepath.ToSlash(target)
	if filepath.IsAbs(target) || strings.HasPrefix(slashed, "/") {
		return "", outside("is an absolute path")
	}
	if !c.packed(path.Join(path.Dir(name), slashed)) {
		return "", outside("is outside the packed paths")
	}
	resolved, err := filepath.EvalSymlinks(c.full(name))
	if err != nil {
		return "", outside("does not exist")
	}
	rel, err := filepath.Rel(c.realRoot, resolved)
	if err != nil || !c.packed(filepath.ToSlash(rel)) {
		return "", outside("resolves outside the packed paths")
	}
	return slashed, nil
}

// packed reports whether name (relative to root, cleaned) lies inside one of the packed paths.
func (c *collector) packed(name string) bool {
	if name == ".." || strings.HasPrefix(name, "../") {
		return false
	}
	for _, top := range c.tops {
		if top == "." || name == top || strings.HasPrefix(name, top+"/") {
			return true
		}
	}
	return false
}

func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeNamedPipe != 0:
		return "named pipe"
	case mode&fs.ModeDevice != 0:
		return "device file"
	}
	return "special file"
}
