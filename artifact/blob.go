package artifact

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
)

// The blob format, version 1:
//
//	header  = magic (8 bytes) || salt (32 random bytes)
//	chunk i = AES-256-GCM(blob key, nonce = 0^4 || uint64be(i), plaintext[i*1MiB:(i+1)*1MiB],
//	          additional data = uint64be(i) || final flag (1 byte) || digest (32 bytes, final chunk only))
//
// The blob key is HKDF-SHA256(store key, salt = header, info), so every blob has its own key and
// counter nonces never repeat under one key. Every chunk but the last holds exactly 1 MiB of
// plaintext; the last holds the rest (empty only when the whole plaintext is). Consequences a
// reader relies on:
//   - a flipped byte, a wrong store key or a changed header fails a chunk's authentication;
//   - reordered chunks fail, because the index is in the nonce and the additional data;
//   - chunks moved between blobs fail, because each blob has its own key;
//   - a blob cut at a chunk boundary fails, because its new last chunk was sealed as not final;
//   - appended bytes fail, because they change where the reader thinks the last chunk ends;
//   - a blob renamed to another digest fails, because the last chunk binds the digest, which is
//     only known once every byte has been hashed — which is also why earlier chunks cannot bind it.
//
// The reader also hashes the plaintext and compares it with the digest before it returns the
// last byte, so a bug in the writer cannot produce a blob that reads back as the wrong artifact.
const (
	blobMagic  = "SLUICEA1"
	saltSize   = 32
	headerSize = len(blobMagic) + saltSize
	chunkSize  = 1 << 20
	tagSize    = 16
	blockSize  = chunkSize + tagSize
	keySize    = 32
	kdfInfo    = "sluice artifact blob v1"

	// writerBuffers bounds the memory of a Put: one chunk being filled, one being sealed and
	// written, one spare so the two goroutines rarely wait for each other.
	writerBuffers = 3
)

func blobCipher(storeKey, header []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, storeKey, header, kdfInfo, keySize)
	if err != nil {
		return nil, fmt.Errorf("derive blob key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create blob cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("create blob cipher: %w", err)
	}
	return gcm, nil
}

func chunkNonce(nonce *[12]byte, index uint64) []byte {
	*nonce = [12]byte{}
	binary.BigEndian.PutUint64(nonce[4:], index)
	return nonce[:]
}

func chunkAAD(aad []byte, index uint64, final bool, digest []byte) []byte {
	aad = binary.BigEndian.AppendUint64(aad[:0], index)
	if !final {
		return append(aad, 0)
	}
	aad = append(aad, 1)
	return append(aad, digest...)
}

// sealJob is one chunk on its way from the hashing goroutine to the sealing one.
type sealJob struct {
	buf    []byte // plaintext, with room for the tag
	index  uint64
	final  bool
	digest []byte
}

// blobWriter turns a plaintext stream into a blob. The caller's goroutine hashes each chunk;
// a second goroutine seals and writes it, so hashing and encryption overlap on two cores.
// Memory stays at writerBuffers chunks whatever the size of the artifact.
type blobWriter struct {
	aead  cipher.AEAD
	hash  hash.Hash
	cur   []byte
	index uint64
	size  int64

	free   chan []byte
	jobs   chan sealJob
	done   chan error
	failed chan struct{} // closed by the sealer on its first error, so Write can stop early
	closed bool
}

func newBlobWriter(w io.Writer, storeKey []byte) (*blobWriter, error) {
	header := make([]byte, headerSize)
	copy(header, blobMagic)
	if _, err := rand.Read(header[len(blobMagic):]); err != nil {
		return nil, fmt.Errorf("generate blob salt: %w", err)
	}
	aead, err := blobCipher(storeKey, header)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write blob header: %w", err)
	}
	bw := &blobWriter{
		aead:   aead,
		hash:   sha256.New(),
		free:   make(chan []byte, writerBuffers),
		jobs:   make(chan sealJob, writerBuffers),
		done:   make(chan error, 1),
		failed: make(chan struct{}),
	}
	for range writerBuffers - 1 {
		bw.free <- make([]byte, 0, blockSize)
	}
	bw.cur = make([]byte, 0, blockSize)
	go bw.seal(w)
	return bw, nil
}

// seal runs in its own goroutine. After an error it keeps taking jobs, so the producer never
// blocks on a buffer that will not come back.
func (bw *blobWriter) seal(w io.Writer) {
	var (
		err   error
		nonce [12]byte
		aad   = make([]byte, 0, 8+1+sha256.Size)
	)
	for job := range bw.jobs {
		if err == nil {
			aad = chunkAAD(aad, job.index, job.final, job.digest)
			sealed := bw.aead.Seal(job.buf[:0], chunkNonce(&nonce, job.index), job.buf, aad)
			if _, werr := w.Write(sealed); werr != nil {
				err = fmt.Errorf("write blob chunk %d: %w", job.index, werr)
				close(bw.failed)
			}
		}
		bw.free <- job.buf[:0]
	}
	bw.done <- err
}

// Write hashes and queues p. It never keeps p.
func (bw *blobWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		select {
		case <-bw.failed:
			// The cause comes back from Abort; this only stops the producer early.
			return written, errors.New("write blob: writing an earlier chunk failed")
		default:
		}
		// A full chunk is only sent once more data arrives: until then it may be the last one,
		// and the last one is sealed differently.
		if len(bw.cur) == chunkSize {
			bw.send(false, nil)
		}
		n := copy(bw.cur[len(bw.cur):chunkSize], p)
		bw.cur = bw.cur[:len(bw.cur)+n]
		p = p[n:]
		written += n
	}
	bw.size += int64(written)
	return written, nil
}

func (bw *blobWriter) send(final bool, digest []byte) {
	if !final {
		bw.hash.Write(bw.cur)
	}
	bw.jobs <- sealJob{buf: bw.cur, index: bw.index, final: final, digest: digest}
	bw.index++
	bw.cur = nil
	if !final {
		bw.cur = <-bw.free
	}
}

// Close seals the last chunk, waits for every chunk to be written, and returns the digest and
// size of the plaintext. It does not close the underlying writer.
func (bw *blobWriter) Close() (digest string, size int64, err error) {
	if bw.closed {
		return "", 0, errors.New("close blob: already closed")
	}
	bw.closed = true
	bw.hash.Write(bw.cur)
	sum := bw.hash.Sum(nil)
	bw.send(true, sum)
	close(bw.jobs)
	if err := <-bw.done; err != nil {
		return "", 0, err
	}
	return digestPrefix + hex.EncodeToString(sum), bw.size, nil
}

// Abort stops the sealing goroutine without finishing the blob and returns the error that
// made it stop writing, if any. Safe after Close, when it does nothing.
func (bw *blobWriter) Abort() error {
	if bw.closed {
		return nil
	}
	bw.closed = true
	close(bw.jobs)
	return <-bw.done
}

// corruptFunc builds the error a reader returns when the blob fails verification.
type corruptFunc func(reason string) error

// blobReader turns a blob back into plaintext, verifying as it goes. Every chunk it returns has
// been authenticated; the binding to the digest and the plaintext hash are checked before the
// last chunk is returned, so a read that ends in io.EOF has seen exactly the artifact named.
type blobReader struct {
	r       io.Reader
	aead    cipher.AEAD
	digest  []byte
	hash    hash.Hash
	corrupt corruptFunc

	buf     []byte // one block plus one byte of lookahead
	carried int    // lookahead bytes already at the start of buf
	plain   []byte // decrypted bytes not yet returned
	index   uint64
	aad     []byte
	nonce   [12]byte
	eof     bool
	err     error
}

// blockPool recycles reader buffers: Unpack and Verify run often and each needs a full block.
var blockPool = sync.Pool{New: func() any { b := make([]byte, blockSize+1); return &b }}

func newBlobReader(r io.Reader, storeKey []byte, digest string, corrupt corruptFunc) (*blobReader, error) {
	sum, err := hex.DecodeString(digest[len(digestPrefix):])
	if err != nil {
		return nil, fmt.Errorf("decode digest: %w", err)
	}
	header := make([]byte, headerSize)
	if n, err := io.ReadFull(r, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corrupt(fmt.Sprintf("the blob is %d bytes, shorter than its %d-byte header", n, headerSize))
		}
		return nil, fmt.Errorf("read blob header: %w", err)
	}
	if string(header[:len(blobMagic)]) != blobMagic {
		return nil, corrupt("the blob does not start with the artifact header")
	}
	aead, err := blobCipher(storeKey, header)
	if err != nil {
		return nil, err
	}
	return &blobReader{
		r:       r,
		aead:    aead,
		digest:  sum,
		hash:    sha256.New(),
		corrupt: corrupt,
		buf:     *blockPool.Get().(*[]byte),
		aad:     make([]byte, 0, 8+1+sha256.Size),
	}, nil
}

// release returns the buffer to the pool; the reader must not be used afterwards.
func (br *blobReader) release() {
	if br.buf != nil {
		b := br.buf
		br.buf, br.plain = nil, nil
		blockPool.Put(&b)
	}
}

func (br *blobReader) Read(p []byte) (int, error) {
	for len(br.plain) == 0 {
		if err := br.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, br.plain)
	br.plain = br.plain[n:]
	return n, nil
}

// WriteTo hands out whole chunks, sparing io.Copy a second copy of every byte.
func (br *blobReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(br.plain) == 0 {
			if err := br.next(); err == io.EOF {
				return total, nil
			} else if err != nil {
				return total, err
			}
		}
		n, err := w.Write(br.plain)
		br.plain = br.plain[n:]
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// next decrypts the following chunk into br.plain, or returns io.EOF after a verified end.
func (br *blobReader) next() error {
	switch {
	case br.err != nil:
		return br.err
	case br.eof:
		return io.EOF
	case br.buf == nil:
		return errors.New("read blob: reader is closed")
	}
	if br.carried > 0 {
		br.buf[0] = br.buf[blockSize]
	}
	n, err := io.ReadFull(br.r, br.buf[br.carried:blockSize+1])
	total := br.carried + n
	var final bool
	switch {
	case err == nil:
		br.carried = 1
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// Whatever is left, up to a full block, is the last chunk.
		final = true
		br.carried = 0
	default:
		br.err = fmt.Errorf("read blob chunk %d: %w", br.index, err)
		return br.err
	}
	block := br.buf[:min(total, blockSize)]
	if len(block) < tagSize {
		br.err = br.corrupt(fmt.Sprintf("the blob ends inside chunk %d", br.index))
		return br.err
	}
	var digest []byte
	if final {
		digest = br.digest
	}
	br.aad = chunkAAD(br.aad, br.index, final, digest)
	plain, err := br.aead.Open(block[:0], chunkNonce(&br.nonce, br.index), block, br.aad)
	if err != nil {
		reason := fmt.Sprintf("chunk %d did not authenticate", br.index)
		if final {
			reason = fmt.Sprintf("the last chunk, %d, did not authenticate: the blob was altered, cut short, extended, encrypted with another key, or belongs to another digest", br.index)
		}
		br.err = br.corrupt(reason)
		return br.err
	}
	br.hash.Write(plain)
	if final {
		if subtle.ConstantTimeCompare(br.hash.Sum(nil), br.digest) != 1 {
			br.err = br.corrupt("its content does not hash to its digest")
			return br.err
		}
		br.eof = true
	}
	br.index++
	br.plain = plain
	return nil
}
