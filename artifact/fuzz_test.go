package artifact

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
)

// FuzzBlobReader writes arbitrary bytes where a blob belongs and reads them back: the reader
// must never panic, and must refuse everything but the one genuine blob.
func FuzzBlobReader(f *testing.F) {
	// Each fuzzing process gets its own random key, so the genuine blob of one process is, to
	// another, just bytes that must be refused.
	s, err := Open(filepath.Join(f.TempDir(), "store"))
	if err != nil {
		f.Fatal(err)
	}
	plain := bytes.Repeat([]byte("sluice"), chunkSize/4) // two chunks
	art, err := s.put(func(w io.Writer) (packStats, error) {
		_, err := w.Write(plain)
		return packStats{}, err
	})
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := os.ReadFile(s.Path(art.Digest))
	if err != nil {
		f.Fatal(err)
	}

	f.Add(genuine)
	f.Add(genuine[:len(genuine)-1])
	f.Add(genuine[:headerSize+blockSize])
	f.Add(genuine[:headerSize+tagSize])
	f.Add(genuine[:headerSize])
	f.Add([]byte(blobMagic))
	f.Add([]byte{})
	f.Add(append(bytes.Clone(genuine), 0))

	f.Fuzz(func(t *testing.T, blob []byte) {
		if err := os.WriteFile(s.Path(art.Digest), blob, 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.Verify(art.Digest)
		if bytes.Equal(blob, genuine) {
			if err != nil {
				t.Fatalf("the genuine blob failed: %v", err)
			}
			return
		}
		if sluice.ErrorCode(err) != sluice.ECORRUPT {
			t.Fatalf("a %d-byte blob was not refused as corrupt: %v", len(blob), err)
		}
		// Reading in small pieces takes other paths through the reader.
		rc, err := s.Open(art.Digest)
		if err != nil {
			if sluice.ErrorCode(err) != sluice.ECORRUPT {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		defer rc.Close()
		buf := make([]byte, 4093)
		for {
			_, err := rc.Read(buf)
			if err == io.EOF {
				t.Fatal("a damaged blob read to the end")
			}
			if err != nil {
				if sluice.ErrorCode(err) != sluice.ECORRUPT {
					t.Fatalf("Read: %v", err)
				}
				return
			}
		}
	})
}
