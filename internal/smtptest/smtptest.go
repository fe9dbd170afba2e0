// Package smtptest is an SMTP server on loopback for tests: STARTTLS with a certificate it makes
// itself, AUTH PLAIN and LOGIN, and the messages it took, parsed into their parts. It can be
// taken down (every connection refused with 421) and brought back up.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running SMTP server. Its methods are safe to call concurrently.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// CertPEM is the server's self-signed certificate, to trust in clients.
	CertPEM []byte
	// User and Password, if User is set, are the only credentials AUTH accepts, and MAIL is
	// refused before AUTH.
	User, Password string

	ln       net.Listener
	tls      *tls.Config
	implicit bool // TLS from the first byte
	mu       sync.Mutex
	msgs     []Message
	down     bool
	wg       sync.WaitGroup
}

// Message is one message the server took.
type Message struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool   // whether the session was encrypted when DATA came
	AuthUser string // who authenticated, if anyone
}

// Start starts a server on 127.0.0.1 that offers STARTTLS and requires user and password (none
// if user is "") and stops it when the test ends.
func Start(t testing.TB, user, password string) *Server { return start(t, user, password, false) }

// StartTLS is Start for a server that speaks TLS from the first byte (smtps, port 465's way).
func StartTLS(t testing.TB, user, password string) *Server { return start(t, user, password, true) }

func start(t testing.TB, user, password string, implicitTLS bool) *Server {
	t.Helper()
	cert, certPEM, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Addr: ln.Addr().String(), CertPEM: certPEM, User: user, Password: password,
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	if implicitTLS {
		ln = tls.NewListener(ln, s.tls)
		s.implicit = true
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Port is the server's port.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	return port
}

// SetDown makes the server refuse every new session with 421 (down) or serve again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Messages returns the messages taken so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			s.session(c)
		}()
	}
}

func (s *Server) session(c net.Conn) {
	tp := textproto.NewConn(c)
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		_ = tp.PrintfLine("421 4.3.2 service not available, try again later")
		return
	}
	_ = tp.PrintfLine("220 smtptest ESMTP")
	var (
		encrypted = s.implicit
		authUser  string
		from      string
		to        []string
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			lines := []string{"smtptest", "8BITMIME", "PIPELINING"}
			if !encrypted {
				lines = append(lines, "STARTTLS")
			} else {
				lines = append(lines, "AUTH PLAIN LOGIN")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				_ = tp.PrintfLine("250%s%s", sep, l)
			}
		case "STARTTLS":
			if encrypted {
				_ = tp.PrintfLine("503 5.5.1 TLS already active")
				continue
			}
			_ = tp.PrintfLine("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, encrypted = tc, true
			tp = textproto.NewConn(tc)
			from, to = "", nil
		case "AUTH":
			if !encrypted {
				_ = tp.PrintfLine("538 5.7.11 encryption required for AUTH")
				continue
			}
			user, pass, ok := s.auth(tp, arg)
			if !ok || (s.User != "" && (user != s.User || pass != s.Password)) {
				_ = tp.PrintfLine("535 5.7.8 authentication credentials invalid")
				continue
			}
			authUser = user
			_ = tp.PrintfLine("235 2.7.0 authentication succeeded")
		case "MAIL":
			if s.User != "" && authUser == "" {
				_ = tp.PrintfLine("530 5.7.0 authentication required")
				continue
			}
			from, to = address(arg), nil
			_ = tp.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			to = append(to, address(arg))
			_ = tp.PrintfLine("250 2.1.5 ok")
		case "DATA":
			if from == "" || len(to) == 0 {
				_ = tp.PrintfLine("503 5.5.1 MAIL and RCPT first")
				continue
			}
			_ = tp.PrintfLine("354 end with <CR><LF>.<CR><LF>")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, Message{From: from, To: to, Data: data, TLS: encrypted, AuthUser: authUser})
			s.mu.Unlock()
			_ = tp.PrintfLine("250 2.0.0 queued")
			from, to = "", nil
		case "RSET":
			from, to = "", nil
			_ = tp.PrintfLine("250 2.0.0 ok")
		case "NOOP":
			_ = tp.PrintfLine("250 2.0.0 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			_ = tp.PrintfLine("502 5.5.2 command not recognized")
		}
	}
}

// auth reads an AUTH PLAIN or LOGIN exchange and returns the credentials given.
func (s *Server) auth(tp *textproto.Conn, arg string) (user, pass string, ok bool) {
	mech, initial, _ := strings.Cut(arg, " ")
	read := func(prompt string) (string, bool) {
		if err := tp.PrintfLine("334 %s", prompt); err != nil {
			return "", false
		}
		l, err := tp.ReadLine()
		if err != nil {
			return "", false
		}
		b, err := base64.StdEncoding.DecodeString(l)
		return string(b), err == nil
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		var raw string
		if initial != "" {
			b, err := base64.StdEncoding.DecodeString(initial)
			if err != nil {
				return "", "", false
			}
			raw = string(b)
		} else if raw, ok = read(""); !ok {
			return "", "", false
		}
		parts := strings.Split(raw, "\x00")
		if len(parts) != 3 {
			return "", "", false
		}
		return parts[1], parts[2], true
	case "LOGIN":
		if user, ok = read(base64.StdEncoding.EncodeToString([]byte("Username:"))); !ok {
			return "", "", false
		}
		if pass, ok = read(base64.StdEncoding.EncodeToString([]byte("Password:"))); !ok {
			return "", "", false
		}
		return user, pass, true
	}
	return "", "", false
}

// address takes the address out of "FROM:<a@b> SIZE=10".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}

// Parsed is a message read back: its header and its plain-text and HTML parts, decoded.
type Parsed struct {
	Header mail.Header
	Text   string
	HTML   string
}

// Parse reads m's header and text parts (a multipart/alternative body, or a single part).
func (m Message) Parse() (Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return Parsed{}, fmt.Errorf("read message: %w", err)
	}
	p := Parsed{Header: msg.Header}
	if err := collect(&p, textproto.MIMEHeader(msg.Header), msg.Body); err != nil {
		return Parsed{}, err
	}
	return p, nil
}

func collect(p *Parsed, h textproto.MIMEHeader, body io.Reader) error {
	media, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		media = "text/plain"
	}
	if strings.HasPrefix(media, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			part, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read part: %w", err)
			}
			if err := collect(p, part.Header, part); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &stripNewlines{r: bufio.NewReader(body)})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decode %s part: %w", media, err)
	}
	switch media {
	case "text/plain":
		p.Text = string(b)
	case "text/html":
		p.HTML = string(b)
	}
	return nil
}

type stripNewlines struct{ r *bufio.Reader }

func (s *stripNewlines) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := s.r.ReadByte()
		if err != nil {
			return n, err
		}
		if b != '\r' && b != '\n' {
			p[n] = b
			n++
		}
	}
	return n, nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a day.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
