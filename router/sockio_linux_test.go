package router

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// The direct socket I/O behaves as net.Conn's Read and Write do: whole writes however full the
// socket's buffer gets, EOF, deadlines, and the probe's three answers.
func TestSockIOIsAConn(t *testing.T) {
	a, b := tcpPair(t)
	sa, sb := newSockIO(a), newSockIO(b)
	if sa == nil || sb == nil {
		t.Fatal("no direct I/O on a TCP connection")
	}
	if got := sa.probe(); got != probeQuiet {
		t.Fatalf("probe of a quiet connection: %v, want quiet", got)
	}

	// 8 MiB is far more than the socket buffers hold: the write waits for the reader.
	want := bytes.Repeat([]byte("0123456789abcdef"), 512<<10)
	wrote := make(chan error, 1)
	go func() {
		n, err := sa.write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		wrote <- err
	}()
	got := make([]byte, 0, len(want))
	buf := make([]byte, 3000)
	for len(got) < len(want) {
		n, err := sb.read(buf)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read differ from those written")
	}

	if _, err := sa.write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sb.probe() != probeData {
		if time.Now().After(deadline) {
			t.Fatal("probe never saw the byte waiting")
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := sb.read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("the probe consumed the byte: read %q, %v", buf[:n], err)
	}

	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sb.read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	b.SetReadDeadline(time.Time{})

	a.Close()
	if _, err := sb.read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	if got := sb.probe(); got != probeClosed {
		t.Fatalf("probe of a connection the peer closed: %v, want closed", got)
	}
	b.Close()
	if _, err := sb.read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := sb.write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write to a closed connection: %v, want net.ErrClosed", err)
	}
}

// A write to a peer that stopped reading ends at the write deadline with what was written.
func TestSockIOWriteDeadline(t *testing.T) {
	a, _ := tcpPair(t)
	sa := newSockIO(a)
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := sa.write(make([]byte, 64<<20))
	if !isTimeout(err) {
		t.Fatalf("write to a peer that never reads: %v, want a timeout", err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("wrote %d bytes before the deadline, want some but not all", n)
	}
}
