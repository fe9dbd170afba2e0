// Package artifact builds, stores and restores Sluice artifacts: the immutable bundle a build
// produces once per revision, named by the sha256 digest of its bytes.
//
// The map of the package:
//
//	Pack             paths of a build → a deterministic tar (same tree, same bytes, same digest)
//	Store.Put        Pack, hash and encrypt in one pass, then store the blob under its digest
//	Store.Unpack     decrypt, verify, and only then place the files at their destination
//	Store.Open       the verified tar stream, for callers that ship it elsewhere
//	Store.Verify     check a stored artifact without unpacking it
//
// At rest an artifact is AES-256-GCM encrypted in 1 MiB chunks (see blob.go for the format)
// under a 32-byte key kept beside the blobs in a file only its owner may read. Encryption here
// protects against tampering and accidental damage at least as much as against reading: any
// changed, cut, extended, swapped or renamed blob fails with code sluice.ECORRUPT and is never
// used, and the sentence tells the user to rebuild.
package artifact

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Artifact describes a stored artifact. The zero Artifact names nothing.
type Artifact struct {
	// Digest names the artifact: "sha256:" and the hex sha256 of its uncompressed tar.
	Digest string `json:"digest"`
	// Size is the length of the tar in bytes (the plaintext, not the encrypted blob).
	Size int64 `json:"size"`
	// Files counts the regular files in the artifact; directories and symlinks are not counted.
	Files int `json:"files"`
}

// Store is a directory of encrypted, content-addressed artifacts:
//
//	dir/key                      32 random bytes, mode 0600
//	dir/blobs/sha256/<hex>       one blob per artifact
//
// A Store is safe for concurrent use by several goroutines and several processes: blobs appear
// under their final name only complete and synced, and two Puts of the same digest leave one
// valid blob. The zero Store has no key; use Open. Its methods fail with EINTERNAL, and Has
// reports false.
type Store struct {
	dir string
	key []byte
}

const (
	keyFile = "key"
	blobDir = "blobs/sha256"

	// tempPrefix marks blobs being written; they never carry a digest's name.
	tempPrefix = ".put-"
	// staleTemp is how old a temporary blob must be before Open removes it as the leftover of a
	// crash; no Put of a real artifact takes that long.
	staleTemp = 24 * time.Hour
)

// Open opens the store in dir, creating dir (mode 0700) and its key file (mode 0600) if they do
// not exist. It refuses a key file that others may read (EINVALID) or that is not exactly 32
// bytes (ECORRUPT), saying how to fix it; it never replaces an existing key, because doing so
// would make every stored artifact unreadable.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, sluice.Errorf(sluice.EINVALID, "the artifact store directory is empty; pass --state DIR or set SLUICE_STATE")
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(blobDir)), 0o700); err != nil {
		return nil, fmt.Errorf("create artifact store: %w", err)
	}
	key, err := loadKey(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, key: key}
	s.removeStaleTemps()
	return s, nil
}

func loadKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if n := countBlobs(filepath.Join(filepath.Dir(path), filepath.FromSlash(blobDir))); n > 0 {
			// A new key would make every stored blob fail verification, and the store would
			// look healthy until the next deployment needed one of them.
			return nil, sluice.Errorf(sluice.ECORRUPT,
				"the artifact key %s is missing but %d artifacts are stored under it; restore the key file from a backup, or move the folder %s away to start a new store (stored artifacts must then be rebuilt with sluice run)",
				path, n, filepath.Dir(path))
		}
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("stat artifact key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, sluice.Errorf(sluice.EINVALID,
			"the artifact key %s is not a regular file; restore the key file from a backup, or move it away to start a new store (stored artifacts must then be rebuilt with sluice run)", path)
	}
	// Windows has no Unix permission bits to check; its ACLs come from the parent directory.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, sluice.Errorf(sluice.EINVALID,
			"the artifact key %s has mode %04o, so other users can read it; run: chmod 600 %s", path, info.Mode().Perm(), path)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read artifact key: %w", err)
	}
	if len(key) != keySize {
		return nil, sluice.Errorf(sluice.ECORRUPT,
			"the artifact key %s is %d bytes instead of %d, so it is damaged; restore it from a backup, or move it away to start a new key (stored artifacts must then be rebuilt with sluice run)", path, len(key), keySize)
	}
	return key, nil
}

// countBlobs counts the stored blobs in dir (temporary ones excluded). A folder it cannot read
// counts as empty: a real problem with it surfaces on the first Put.
func countBlobs(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) && validDigest(digestPrefix+e.Name()) {
			n++
		}
	}
	return n
}

// createKey writes the key under a temporary name and links it into place, so a crash never
// leaves a short key and a concurrent Open never replaces a key another process already uses.
func createKey(path string) ([]byte, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate artifact key: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, fmt.Errorf("create artifact key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write artifact key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return loadKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("install artifact key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return key, nil
}

func (s *Store) removeStaleTemps() {
	dir := s.blobDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // a listing failure here only means leftovers stay; Put will report real problems
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// DeriveKey returns a 32-byte key for purpose, derived from the store key (HKDF-SHA256), so
// the state directory needs one secret file, which Open already guards. Different purposes
// give unrelated keys. It returns nil if the store is not open.
func (s *Store) DeriveKey(purpose string) []byte {
	if s == nil || s.key == nil {
		return nil
	}
	key, err := hkdf.Key(sha256.New, s.key, nil, "sluice derived key: "+purpose, keySize)
	if err != nil {
		return nil // only for lengths HKDF cannot give; keySize is not one
	}
	return key
}

func (s *Store) blobDir() string { return filepath.Join(s.dir, filepath.FromSlash(blobDir)) }

func (s *Store) ready() error {
	if s == nil || s.key == nil {
		return sluice.Errorf(sluice.EINTERNAL, "the artifact store is not open; use artifact.Open")
	}
	return nil
}

// Path returns where the blob of digest lives (whether or not it exists), or "" if digest is
// not a valid digest or the store is not open.
func (s *Store) Path(digest string) string {
	if s == nil || s.key == nil || !validDigest(digest) {
		return ""
	}
	return filepath.Join(s.blobDir(), digest[len(digestPrefix):])
}

// Has reports whether a blob for digest is stored. It does not verify it; use Verify for that.
func (s *Store) Has(digest string) bool {
	p := s.Path(digest)
	if p == "" {
		return false
	}
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// Put packs paths under root (see Pack), hashes the archive and encrypts it into the store in a
// single pass, with memory bounded by a few MiB whatever the artifact's size. The blob is
// written under a temporary name, synced and renamed, so a crash never leaves a partial blob
// under a digest. If the digest is already stored and verifies, the existing blob is kept; if
// it does not verify, the new one replaces it, which is how rebuilding repairs a damaged store.
func (s *Store) Put(root string, paths []string) (Artifact, error) {
	if err := s.ready(); err != nil {
		return Artifact{}, err
	}
	return s.put(func(w io.Writer) (packStats, error) { return pack(w, root, paths) })
}

// put stores whatever plaintext fill writes. Tests use it to store archives Pack would refuse.
func (s *Store) put(fill func(io.Writer) (packStats, error)) (art Artifact, err error) {
	dir := s.blobDir()
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return Artifact{}, fmt.Errorf("create artifact blob: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw, err := newBlobWriter(tmp, s.key)
	if err != nil {
		return Artifact{}, err
	}
	stats, err := fill(bw)
	if err != nil {
		if werr := bw.Abort(); werr != nil {
			return Artifact{}, fmt.Errorf("write artifact blob: %w", werr)
		}
		return Artifact{}, err
	}
	digest, size, err := bw.Close()
	if err != nil {
		return Artifact{}, fmt.Errorf("write artifact blob: %w", err)
	}
	art = Artifact{Digest: digest, Size: size, Files: stats.files}
	if err := tmp.Sync(); err != nil {
		return Artifact{}, fmt.Errorf("sync artifact blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Artifact{}, fmt.Errorf("close artifact blob: %w", err)
	}
	if s.Verify(digest) == nil { // already stored and intact: keep it
		return art, nil
	}
	if err := os.Rename(tmp.Name(), s.Path(digest)); err != nil {
		return Artifact{}, fmt.Errorf("store artifact blob: %w", err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return Artifact{}, err
	}
	return art, nil
}

// Open returns the archive of digest as a stream, decrypting and verifying as it is read. Every
// byte returned has been authenticated with the store key, but that the stream is the artifact
// named by digest — not another one, not cut short — is known only when Read returns io.EOF;
// an earlier error has code sluice.ECORRUPT if the blob is damaged. Act on the bytes only after
// io.EOF, or use Unpack, which does. The caller must Close the stream.
func (s *Store) Open(digest string) (io.ReadCloser, error) {
	bs, err := s.open(digest)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return bs, nil
}

// open is Open with the stream's concrete type, for Unpack, which needs its file's size.
func (s *Store) open(digest string) (*blobStream, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := CheckDigest(digest); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sluice.Errorf(sluice.ENOTFOUND,
			"artifact %s is not in the store %s; rebuild it with sluice run", shortDigest(digest), s.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open artifact blob: %w", err)
	}
	br, err := newBlobReader(f, s.key, digest, corruptError(digest))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &blobStream{blobReader: br, file: f}, nil
}

// blobStream ties a reader to its file.
type blobStream struct {
	*blobReader
	file *os.File
}

func (b *blobStream) Close() error {
	b.release()
	return b.file.Close()
}

// Verify decrypts the artifact of digest and checks it end to end without writing it anywhere.
// It returns nil, or an error with code ENOTFOUND (not stored), ECORRUPT (damaged) or EINVALID
// (not a digest).
func (s *Store) Verify(digest string) error {
	rc, err := s.Open(digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return nil
}

func corruptError(digest string) corruptFunc {
	return func(reason string) error {
		return sluice.Errorf(sluice.ECORRUPT,
			"artifact %s failed verification (%s); it was changed or damaged on disk and will not be used; rebuild it with sluice run", shortDigest(digest), reason)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	// Some file systems cannot sync a directory; the rename is still atomic there, only its
	// durability across a power cut is weaker, which is no reason to fail the operation.
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "windows" {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
