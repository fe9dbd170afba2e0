package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/wneessen/go-mail"

	"github.com/sluicehq/sluice/spec"
)

// The variables the email channel reads.
const (
	// SMTPURLEnv names the server: smtp://user:pass@host:587 (STARTTLS; ?tls=opportunistic or
	// ?tls=none for a local test server) or smtps://user:pass@host:465 (TLS from the start).
	SMTPURLEnv = spec.SMTPURLEnv
	// SMTPFromEnv is the sender when the channel names none.
	SMTPFromEnv = "SLUICE_SMTP_FROM"
	// SMTPCAEnv is a PEM file of certificates to trust besides the system's, for a server with
	// a private or self-signed certificate.
	SMTPCAEnv = "SLUICE_SMTP_CA"
)

// DefaultFrom is the sender when neither the channel nor SLUICE_SMTP_FROM names one.
const DefaultFrom = "sluice@localhost"

// Email sends each message as mail with a plain-text and an HTML part, through the server in
// SLUICE_SMTP_URL. The Message-ID is made of the event ID and the channel, so a receiver
// (or a mail filter) can drop a copy sent again after a crash.
type Email struct {
	Channel string
	To      []string
	From    string
	Env     Env
	// TLS, if set, is used instead of the system's roots (and SLUICE_SMTP_CA).
	TLS *tls.Config
}

var _ Sender = (*Email)(nil)

// smtpServer is SLUICE_SMTP_URL, read.
type smtpServer struct {
	host       string
	port       int
	user, pass string
	ssl        bool
	policy     mail.TLSPolicy
}

// parseSMTPURL reads SLUICE_SMTP_URL; its errors are sentences that say how to fix it.
func parseSMTPURL(raw string) (smtpServer, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return smtpServer{}, fmt.Errorf("%s is not a URL such as smtp://user:pass@mail.example.com:587", SMTPURLEnv)
	}
	s := smtpServer{host: u.Hostname(), policy: mail.TLSMandatory}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.ssl = 465, true
	default:
		return smtpServer{}, fmt.Errorf("%s has scheme %q; use smtp:// (STARTTLS) or smtps:// (TLS)", SMTPURLEnv, u.Scheme)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return smtpServer{}, fmt.Errorf("%s has port %q; use a number from 1 to 65535", SMTPURLEnv, p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	switch tlsMode := u.Query().Get("tls"); tlsMode {
	case "", "mandatory":
	case "opportunistic":
		s.policy = mail.TLSOpportunistic
	case "none":
		if s.user != "" {
			return smtpServer{}, fmt.Errorf("%s sends a password with tls=none, in clear text; remove tls=none (STARTTLS) or the user and password", SMTPURLEnv)
		}
		s.policy = mail.NoTLS
	default:
		return smtpServer{}, fmt.Errorf("%s has tls=%s; use mandatory (the default), opportunistic or none", SMTPURLEnv, tlsMode)
	}
	return s, nil
}

// server reads SLUICE_SMTP_URL: unset is an error that passes, a URL that cannot be used a
// final one.
func (e *Email) server() (smtpServer, error) {
	raw, ok := e.Env(SMTPURLEnv)
	if !ok || raw == "" {
		return smtpServer{}, unset(SMTPURLEnv, "email needs the SMTP server, such as smtp://user:pass@mail.example.com:587")
	}
	srv, err := parseSMTPURL(raw)
	if err != nil {
		return smtpServer{}, Permanent(err)
	}
	return srv, nil
}

// Send mails n's message to every address in To.
func (e *Email) Send(ctx context.Context, n Notice) error {
	srv, err := e.server()
	if err != nil {
		return err
	}
	tlsConfig, err := e.tlsConfig(srv.host)
	if err != nil {
		return Permanent(err)
	}
	msg, err := e.message(n)
	if err != nil {
		return Permanent(err)
	}
	opts := []mail.Option{mail.WithPort(srv.port), mail.WithTLSPolicy(srv.policy), mail.WithTLSConfig(tlsConfig), mail.WithTimeout(sendTimeout)}
	if srv.ssl {
		opts = append(opts, mail.WithSSL())
	}
	if srv.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(srv.user), mail.WithPassword(srv.pass))
	}
	client, err := mail.NewClient(srv.host, opts...)
	if err != nil {
		return Permanent(fmt.Errorf("set up SMTP client for %s: %w", srv.host, err))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			// The server refused for good (a 5xx reply: unknown recipient, relay denied).
			return Permanent(fmt.Errorf("send mail through %s:%d: %w", srv.host, srv.port, err))
		}
		return fmt.Errorf("send mail through %s:%d: %w", srv.host, srv.port, err)
	}
	return nil
}

func (e *Email) tlsConfig(host string) (*tls.Config, error) {
	if e.TLS != nil {
		c := e.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName = host
		}
		return c, nil
	}
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if path, ok := e.Env(SMTPCAEnv); ok && path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s (%s): %w", SMTPCAEnv, path, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s (%s) holds no PEM certificate", SMTPCAEnv, path)
		}
		c.RootCAs = pool
	}
	return c, nil
}

func (e *Email) message(n Notice) (*mail.Msg, error) {
	from := e.From
	if from == "" {
		if f, ok := e.Env(SMTPFromEnv); ok && f != "" {
			from = f
		} else {
			from = DefaultFrom
		}
	}
	m := mail.NewMsg()
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("sender %q: %w", from, err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, fmt.Errorf("recipients %s: %w", strings.Join(e.To, ", "), err)
	}
	m.Subject(n.Message.Subject)
	m.SetMessageIDWithValue(n.Key + "." + e.Channel + "@sluice")
	m.SetGenHeader("X-Sluice-Event", n.Key)
	m.SetGenHeader("X-Sluice-Event-Type", string(n.Event.Type))
	m.SetDateWithValue(n.Event.Time)
	m.SetUserAgent("sluice")
	m.SetBulk()
	m.SetBodyString(mail.TypeTextPlain, n.Message.Text())
	m.AddAlternativeString(mail.TypeTextHTML, n.Message.HTML())
	return m, nil
}
