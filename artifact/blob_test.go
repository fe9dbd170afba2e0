package artifact

import (
	"errors"
	"strings"
	"testing"
)

// limitedWriter fails once it has taken n bytes, like a full disk.
type limitedWriter struct{ n int }

var errDiskFull = errors.New("no space left on device")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestBlobWriterReportsWriteFailure(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		abort    bool // the producer gives up (as Put does when Pack fails) instead of closing
	}{
		{"header fails", 10, false},
		{"first chunk fails, closed", headerSize + 100, false},
		{"later chunk fails, closed", headerSize + 2*blockSize + 5, false},
		{"later chunk fails, aborted", headerSize + 2*blockSize + 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bw, err := newBlobWriter(&limitedWriter{n: tt.capacity}, make([]byte, keySize))
			if tt.capacity < headerSize {
				if !errors.Is(err, errDiskFull) {
					t.Fatalf("got %v, want the header write to fail", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Keep writing well past the failure: the producer must neither block nor panic.
			piece := []byte(strings.Repeat("x", 64<<10))
			var writeErr error
			for range 200 {
				if _, writeErr = bw.Write(piece); writeErr != nil {
					break
				}
			}
			if tt.abort {
				err = bw.Abort()
			} else {
				_, _, err = bw.Close()
			}
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("got %v (write error %v), want the disk error", err, writeErr)
			}
			if bw.Abort() != nil {
				t.Fatal("Abort after the end reported again")
			}
		})
	}
}
