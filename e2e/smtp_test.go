package e2e

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailbox is an SMTP server for tests (github.com/emersion/go-smtp) that takes mail from
// one user and keeps every message.
type mailbox struct {
	addr     string
	mu       sync.Mutex
	messages []mailMessage
}

type mailMessage struct {
	From string
	To   []string
	Data string
}

func startMailbox(t *testing.T, user, password string) *mailbox {
	t.Helper()
	mb := &mailbox{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{mb: mb, user: user, password: password}, nil
	}))
	s.Domain = "mail.test"
	s.AllowInsecureAuth = true // loopback, for the test only
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return mb
}

// to returns the messages sent to rcpt.
func (mb *mailbox) to(rcpt string) []mailMessage {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []mailMessage
	for _, m := range mb.messages {
		for _, r := range m.To {
			if r == rcpt {
				out = append(out, m)
			}
		}
	}
	return out
}

type mailSession struct {
	mb             *mailbox
	user, password string
	authed         bool
	msg            mailMessage
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.user || password != s.password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.msg.From = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = strings.ReplaceAll(string(b), "=\r\n", "")
	s.mb.mu.Lock()
	s.mb.messages = append(s.mb.messages, s.msg)
	s.mb.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.msg = mailMessage{} }
func (s *mailSession) Logout() error { return nil }
