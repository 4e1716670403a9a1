package googletest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Message is a mail in the test mailbox.
type Message struct {
	ID, ThreadID      string
	From, To, Subject string
	MessageID         string // the RFC 5322 Message-ID header
	InReplyTo         string
	Date              time.Time
	Body              string
	Labels            []string
}

// Draft is a draft the client created, with the message it parsed from.
type Draft struct {
	ID      string
	Message Message
	// Sent is set when the draft was sent.
	Sent bool
}

type mailbox struct {
	messages []*Message
	drafts   []*Draft
}

func (m *mailbox) init() {}

// AddMessage puts a message in the inbox and returns its id.
func (s *Server) AddMessage(msg Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg.ID = s.nextID("18c")
	if msg.ThreadID == "" {
		msg.ThreadID = msg.ID
	}
	if msg.MessageID == "" {
		msg.MessageID = "<" + msg.ID + "@mail.example.com>"
	}
	if msg.Date.IsZero() {
		msg.Date = time.Now()
	}
	if msg.To == "" {
		msg.To = s.opts.Email
	}
	if msg.Labels == nil {
		msg.Labels = []string{"INBOX", "UNREAD"}
	}
	s.mailbox.messages = append(s.mailbox.messages, &msg)
	return msg.ID
}

// Drafts returns the drafts, sent or not.
func (s *Server) Drafts() []Draft {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Draft, len(s.mailbox.drafts))
	for i, d := range s.mailbox.drafts {
		out[i] = *d
	}
	return out
}

func (s *Server) gmail(req Request, body []byte) (any, error) {
	if u := req.Path["userId"]; u != "me" && u != s.opts.Email {
		return nil, &apiErr{403, "Delegation denied for " + s.opts.Email}
	}
	switch req.ID {
	case "gmail.users.getProfile":
		return map[string]any{"emailAddress": s.opts.Email, "messagesTotal": len(s.mailbox.messages),
			"threadsTotal": len(s.mailbox.messages), "historyId": "1000"}, nil
	case "gmail.users.messages.list":
		return s.listMessages(req)
	case "gmail.users.messages.get":
		m := s.find(req.Path["id"])
		if m == nil {
			return nil, &apiErr{404, "Requested entity was not found."}
		}
		return render(m, req.Query.Get("format"), req.Query["metadataHeaders"]), nil
	case "gmail.users.drafts.create":
		return s.createDraft(body)
	case "gmail.users.drafts.send":
		return s.sendDraft(body)
	}
	return nil, &apiErr{501, req.ID + " is not implemented by the test server"}
}

func (s *Server) find(id string) *Message {
	for _, m := range s.mailbox.messages {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// listMessages matches q's words (from:, to:, subject: or plain text,
// case-insensitively), newest first.
func (s *Server) listMessages(req Request) (any, error) {
	limit := 100
	if v := req.Query.Get("maxResults"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	terms := strings.Fields(strings.ToLower(req.Query.Get("q")))
	var out []map[string]string
	for i := len(s.mailbox.messages) - 1; i >= 0 && len(out) < limit; i-- {
		m := s.mailbox.messages[i]
		if matches(m, terms) {
			out = append(out, map[string]string{"id": m.ID, "threadId": m.ThreadID})
		}
	}
	res := map[string]any{"resultSizeEstimate": len(out)}
	if len(out) > 0 {
		res["messages"] = out
	}
	return res, nil
}

func matches(m *Message, terms []string) bool {
	for _, t := range terms {
		field, val, ok := strings.Cut(t, ":")
		var hay string
		switch {
		case ok && field == "from":
			hay = m.From
		case ok && field == "to":
			hay = m.To
		case ok && field == "subject":
			hay = m.Subject
		default:
			hay, val = m.From+" "+m.To+" "+m.Subject+" "+m.Body, t
		}
		if !strings.Contains(strings.ToLower(hay), val) {
			return false
		}
	}
	return true
}

// render is a message as users.messages.get answers it: a
// multipart/alternative payload with a text/plain part.
func render(m *Message, format string, only []string) map[string]any {
	headers := []map[string]string{
		{"name": "From", "value": m.From}, {"name": "To", "value": m.To},
		{"name": "Subject", "value": m.Subject}, {"name": "Date", "value": m.Date.Format(time.RFC1123Z)},
		{"name": "Message-ID", "value": m.MessageID},
	}
	if format == "metadata" && len(only) > 0 {
		var keep []map[string]string
		for _, h := range headers {
			for _, o := range only {
				if strings.EqualFold(o, h["name"]) {
					keep = append(keep, h)
				}
			}
		}
		headers = keep
	}
	snippet := m.Body
	if len(snippet) > 100 {
		snippet = snippet[:100]
	}
	out := map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.Labels, "snippet": snippet,
		"internalDate": strconv.FormatInt(m.Date.UnixMilli(), 10), "sizeEstimate": len(m.Body) + 200}
	if format == "minimal" {
		return out
	}
	payload := map[string]any{"partId": "", "mimeType": "multipart/alternative", "headers": headers,
		"body": map[string]any{"size": 0}}
	if format != "metadata" {
		html := "<div>" + m.Body + "</div>"
		payload["parts"] = []map[string]any{
			{"partId": "0", "mimeType": "text/plain", "headers": []map[string]string{{"name": "Content-Type", "value": "text/plain; charset=UTF-8"}},
				"body": map[string]any{"size": len(m.Body), "data": base64.URLEncoding.EncodeToString([]byte(m.Body))}},
			{"partId": "1", "mimeType": "text/html", "headers": []map[string]string{{"name": "Content-Type", "value": "text/html; charset=UTF-8"}},
				"body": map[string]any{"size": len(html), "data": base64.URLEncoding.EncodeToString([]byte(html))}},
		}
	}
	out["payload"] = payload
	return out
}

// parseRaw reads a draft's message.raw: base64url RFC 5322 with To and
// Subject; a reply must name its thread and the message it answers.
func parseRaw(raw string) (Message, error) {
	b, err := base64.URLEncoding.DecodeString(raw)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(raw); err != nil {
			return Message{}, fmt.Errorf("message.raw is not base64url: %v", err)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return Message{}, fmt.Errorf("message.raw is not an RFC 5322 message: %v", err)
	}
	to, err := mail.ParseAddressList(msg.Header.Get("To"))
	if err != nil || len(to) == 0 {
		return Message{}, fmt.Errorf("message.raw: invalid To header")
	}
	body, _ := io.ReadAll(msg.Body)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Message{}, fmt.Errorf("message.raw: invalid Subject header")
	}
	return Message{To: msg.Header.Get("To"), From: msg.Header.Get("From"), Subject: subject,
		InReplyTo: msg.Header.Get("In-Reply-To"), Body: string(body)}, nil
}

func (s *Server) createDraft(body []byte) (any, error) {
	var in struct {
		Message struct {
			Raw      string `json:"raw"`
			ThreadID string `json:"threadId"`
		} `json:"message"`
	}
	if err := jsonUnmarshal(body, &in); err != nil {
		return nil, err
	}
	if in.Message.Raw == "" {
		return nil, &apiErr{400, "Invalid draft: message.raw is required"}
	}
	m, err := parseRaw(in.Message.Raw)
	if err != nil {
		return nil, &apiErr{400, err.Error()}
	}
	if in.Message.ThreadID != "" {
		var thread *Message
		for _, x := range s.mailbox.messages {
			if x.ThreadID == in.Message.ThreadID {
				thread = x
			}
		}
		if thread == nil {
			return nil, &apiErr{404, "Requested entity was not found."}
		}
		if m.InReplyTo == "" {
			return nil, &apiErr{400, "a reply in a thread needs In-Reply-To"}
		}
	}
	m.ID = s.nextID("18d")
	m.ThreadID = in.Message.ThreadID
	if m.ThreadID == "" {
		m.ThreadID = m.ID
	}
	m.Labels = []string{"DRAFT"}
	m.Date = time.Now()
	d := &Draft{ID: s.nextID("r-"), Message: m}
	s.mailbox.drafts = append(s.mailbox.drafts, d)
	return map[string]any{"id": d.ID, "message": map[string]any{"id": m.ID, "threadId": m.ThreadID, "labelIds": m.Labels}}, nil
}

func (s *Server) sendDraft(body []byte) (any, error) {
	var in struct {
		ID string `json:"id"`
	}
	if err := jsonUnmarshal(body, &in); err != nil {
		return nil, err
	}
	for _, d := range s.mailbox.drafts {
		if d.ID == in.ID && !d.Sent {
			d.Sent = true
			d.Message.Labels = []string{"SENT"}
			return map[string]any{"id": d.Message.ID, "threadId": d.Message.ThreadID, "labelIds": d.Message.Labels}, nil
		}
	}
	return nil, &apiErr{404, "Requested entity was not found."}
}
