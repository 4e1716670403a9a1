// Package smtptest is a minimal RFC 5321 SMTP receiver for tests: it runs
// in-process on a loopback port, accepts every message (EHLO/HELO, MAIL,
// RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and keeps it for the
// test to read. It speaks no TLS and no AUTH.
package smtptest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as sent, dot-unstuffed, CRLF line ends.
	Data string
}

// Header returns the value of the first header named name ("" if none).
func (m Message) Header(name string) string {
	head, _, _ := strings.Cut(m.Data, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Body returns the message body.
func (m Message) Body() string {
	_, body, _ := strings.Cut(m.Data, "\r\n\r\n")
	return body
}

// Server is a running receiver.
type Server struct {
	// Addr is host:port to send to.
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	msgs []Message
	// rejectData > 0 makes the next rejectData messages fail with 451.
	rejectData int
	wg         sync.WaitGroup
}

// Start starts a receiver that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Messages returns a copy of the accepted messages, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// RejectNext makes the next n messages fail at the end of DATA with a
// transient 451, as a busy server would.
func (s *Server) RejectNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectData = n
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.session(conn)
		}()
	}
}

func (s *Server) session(conn net.Conn) {
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	reply := func(line string) bool {
		w.WriteString(line + "\r\n")
		return w.Flush() == nil
	}
	if !reply("220 smtptest ESMTP ready") {
		return
	}
	var cur Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-smtptest greets " + arg)
			reply("250-8BITMIME")
			reply("250 SIZE 10485760")
		case "HELO":
			reply("250 smtptest")
		case "MAIL":
			cur = Message{From: path(arg, "FROM:")}
			reply("250 OK")
		case "RCPT":
			cur.To = append(cur.To, path(arg, "TO:"))
			reply("250 OK")
		case "DATA":
			if len(cur.To) == 0 {
				reply("503 need RCPT first")
				continue
			}
			reply("354 end with <CRLF>.<CRLF>")
			data, ok := readData(r)
			if !ok {
				return
			}
			cur.Data = data
			s.mu.Lock()
			reject := s.rejectData > 0
			if reject {
				s.rejectData--
			} else {
				s.msgs = append(s.msgs, cur)
			}
			s.mu.Unlock()
			if reject {
				reply("451 try again later")
			} else {
				reply("250 OK queued")
			}
			cur = Message{}
		case "RSET":
			cur = Message{}
			reply("250 OK")
		case "NOOP":
			reply("250 OK")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
}

// path extracts the address of "FROM:<a@b> SIZE=1".
func path(arg, prefix string) string {
	arg = strings.TrimSpace(arg)
	if len(arg) >= len(prefix) && strings.EqualFold(arg[:len(prefix)], prefix) {
		arg = arg[len(prefix):]
	}
	arg, _, _ = strings.Cut(strings.TrimSpace(arg), " ")
	return strings.Trim(arg, "<>")
}

// readData reads DATA lines up to the lone dot, undoing dot-stuffing.
func readData(r *bufio.Reader) (string, bool) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", false
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String(), true
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}
