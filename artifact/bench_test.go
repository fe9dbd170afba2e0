package artifact

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// benchData returns a directory of about 200 MB in a few files, and its size. bench/artifact.sh
// sets SLUICE_BENCH_DATA so that the benchmark reads the very bytes it timed sha256sum on.
func benchData(b *testing.B) (string, int64) {
	b.Helper()
	if dir := os.Getenv("SLUICE_BENCH_DATA"); dir != "" {
		var size int64
		err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err == nil {
				size += info.Size()
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return dir, size
	}
	dir := b.TempDir()
	const files, fileSize = 4, 50_000_000
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, fileSize)
	for i := range files {
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, "part"+strconv.Itoa(i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, files * fileSize
}

// BenchmarkPut200MB is a whole Put: pack, hash, encrypt, write and fsync the blob.
func BenchmarkPut200MB(b *testing.B) {
	root, size := benchData(b)
	s, err := Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		art, err := s.Put(root, []string{"."})
		if err != nil {
			b.Fatal(err)
		}
		// Without this every Put after the first would only verify the stored blob.
		b.StopTimer()
		os.Remove(s.Path(art.Digest))
		b.StartTimer()
	}
}

// BenchmarkSeal200MB is Put without the disk: pack, hash and encrypt into io.Discard.
func BenchmarkSeal200MB(b *testing.B) {
	root, size := benchData(b)
	key := make([]byte, keySize)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bw, err := newBlobWriter(io.Discard, key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pack(bw, root, []string{"."}); err != nil {
			b.Fatal(err)
		}
		if _, _, err := bw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnpack decrypts, verifies and writes out the 200 MB artifact, fsyncing every file.
func BenchmarkUnpack(b *testing.B) {
	root, size := benchData(b)
	s, err := Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	art, err := s.Put(root, []string{"."})
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		dest := filepath.Join(out, strconv.Itoa(i))
		if err := s.Unpack(art.Digest, dest); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dest)
		b.StartTimer()
	}
}

// BenchmarkVerify decrypts and verifies the 200 MB artifact without writing it anywhere.
func BenchmarkVerify(b *testing.B) {
	root, size := benchData(b)
	s, err := Open(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	art, err := s.Put(root, []string{"."})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := s.Verify(art.Digest); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPutMemoryIsBounded checks that Put streams: storing 48 MiB must not allocate anything
// like 48 MiB. Allocation totals are exact counts, not timings, so this does not flake.
func TestPutMemoryIsBounded(t *testing.T) {
	root := t.TempDir()
	buf := make([]byte, 48<<20)
	rand.NewChaCha8([32]byte{2}).Read(buf)
	writeFile(t, root, "dist/blob", string(buf), 0o644)
	buf = nil
	s := newStore(t)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	art, err := s.Put(root, []string{"dist"})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if art.Size < 48<<20 {
		t.Fatalf("stored only %d bytes", art.Size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 12<<20 {
		t.Fatalf("Put of %d MiB allocated %d MiB; it should stream in a few chunks", art.Size>>20, allocated>>20)
	}

	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := s.Unpack(art.Digest, filepath.Join(t.TempDir(), "out")); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 12<<20 {
		t.Fatalf("Unpack of %d MiB allocated %d MiB; it should stream in a few chunks", art.Size>>20, allocated>>20)
	}
}
