package google

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/tools"
)

// Bounds of the mail tools.
const (
	maxSearch     = 20
	maxBodyChars  = 8_000
	maxDraftChars = 20_000
	// confirmTTL is how long a draft waits for the customer's "send".
	confirmTTL = 30 * time.Minute
)

func (c *Client) mailTools() []tools.Tool {
	return []tools.Tool{
		{Skill: plans.SkillGmail, Run: c.gmailSearch, Spec: llm.ToolSpec{Name: "gmail_search",
			Description: "Search the customer's Gmail with Gmail's search syntax (from:, to:, subject:, words). Returns id, date, sender, subject and a snippet of each match, newest first.",
			Schema:      tools.Schema(`{"query":{"type":"string"},"max":{"type":"integer","description":"At most this many (1-20, default 10)."}}`, "query")}},
		{Skill: plans.SkillGmail, Run: c.gmailRead, Spec: llm.ToolSpec{Name: "gmail_read",
			Description: "Read one mail by the id gmail_search gave: headers and its text (long mails are cut).",
			Schema:      tools.Schema(`{"id":{"type":"string"}}`, "id")}},
		{Skill: plans.SkillGmail, Run: c.gmailDraft, Spec: llm.ToolSpec{Name: "gmail_draft",
			Description: "Save a draft in the customer's Gmail: a new mail (to, subject, body) or a reply (reply_to_id, body; to and subject default to the original's). The draft is NOT sent. It returns a confirmation code; show the customer the draft and tell them to answer \"send <code>\" if they want it sent.",
			Schema:      tools.Schema(`{"to":{"type":"string","description":"Recipients, comma-separated."},"subject":{"type":"string"},"body":{"type":"string","description":"Plain text."},"reply_to_id":{"type":"string","description":"The id of the mail answered."}}`, "body")}},
		{Skill: plans.SkillGmail, Run: c.gmailSend, Spec: llm.ToolSpec{Name: "gmail_send_draft",
			Description: "Send a draft made by gmail_draft. It works only when the customer's own latest message says \"send <code>\" with that draft's code; otherwise nothing is sent.",
			Schema:      tools.Schema(`{"code":{"type":"string"}}`, "code")}},
	}
}

type header struct{ Name, Value string }

type part struct {
	MimeType string   `json:"mimeType"`
	Headers  []header `json:"headers"`
	Body     struct {
		Data string `json:"data"`
	} `json:"body"`
	Parts []part `json:"parts"`
}

type message struct {
	ID       string   `json:"id"`
	ThreadID string   `json:"threadId"`
	Snippet  string   `json:"snippet"`
	Labels   []string `json:"labelIds"`
	Payload  part     `json:"payload"`
}

func (m message) header(name string) string {
	for _, h := range m.Payload.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// text is the first text/plain part's content.
func (p part) text() string {
	if p.MimeType == "text/plain" && p.Body.Data != "" {
		b, err := base64.URLEncoding.DecodeString(p.Body.Data)
		if err != nil {
			b, _ = base64.RawURLEncoding.DecodeString(p.Body.Data)
		}
		return string(b)
	}
	for _, sub := range p.Parts {
		if t := sub.text(); t != "" {
			return t
		}
	}
	return ""
}

func (c *Client) gmailSearch(ctx context.Context, call tools.Call) (string, error) {
	var in struct {
		Query string `json:"query"`
		Max   int    `json:"max"`
	}
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	if in.Max <= 0 || in.Max > maxSearch {
		in.Max = 10
	}
	if len(in.Query) > 500 {
		return "", fmt.Errorf("%w: query is longer than 500 characters", tools.ErrBadInput)
	}
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	q := url.Values{"q": {in.Query}, "maxResults": {fmt.Sprint(in.Max)}}
	if err := c.api(ctx, http.MethodGet, c.gmailURL("messages"), q, nil, &list); err != nil {
		return "", err
	}
	if len(list.Messages) == 0 {
		return "no mail matches " + in.Query, nil
	}
	var out strings.Builder
	for i, m := range list.Messages {
		var full message
		mq := url.Values{"format": {"metadata"}, "metadataHeaders": {"From", "Subject", "Date"}}
		if err := c.api(ctx, http.MethodGet, c.gmailURL("messages/"+url.PathEscape(m.ID)), mq, nil, &full); err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "%d. id %s | %s | from %s | %s\n   %s\n", i+1, full.ID, full.header("Date"),
			full.header("From"), full.header("Subject"), oneLine(full.Snippet))
	}
	return out.String(), nil
}

func (c *Client) gmailRead(ctx context.Context, call tools.Call) (string, error) {
	var in struct {
		ID string `json:"id"`
	}
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	if in.ID == "" || len(in.ID) > 64 {
		return "", fmt.Errorf("%w: id is required", tools.ErrBadInput)
	}
	var m message
	if err := c.api(ctx, http.MethodGet, c.gmailURL("messages/"+url.PathEscape(in.ID)), url.Values{"format": {"full"}}, nil, &m); err != nil {
		return "", err
	}
	body := m.Payload.text()
	if r := []rune(body); len(r) > maxBodyChars {
		body = string(r[:maxBodyChars]) + "\n[mail cut here]"
	}
	return fmt.Sprintf("id: %s\nthread: %s\nFrom: %s\nTo: %s\nDate: %s\nSubject: %s\n\n%s", m.ID, m.ThreadID,
		m.header("From"), m.header("To"), m.header("Date"), m.header("Subject"), body), nil
}

func (c *Client) gmailDraft(ctx context.Context, call tools.Call) (string, error) {
	var in struct {
		To, Subject, Body string
		ReplyToID         string `json:"reply_to_id"`
	}
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	if strings.TrimSpace(in.Body) == "" || len([]rune(in.Body)) > maxDraftChars {
		return "", fmt.Errorf("%w: body must be 1 to %d characters", tools.ErrBadInput, maxDraftChars)
	}
	var thread, inReplyTo string
	if in.ReplyToID != "" {
		var orig message
		q := url.Values{"format": {"metadata"}, "metadataHeaders": {"From", "Subject", "Message-ID"}}
		if err := c.api(ctx, http.MethodGet, c.gmailURL("messages/"+url.PathEscape(in.ReplyToID)), q, nil, &orig); err != nil {
			return "", err
		}
		thread, inReplyTo = orig.ThreadID, orig.header("Message-ID")
		if in.To == "" {
			in.To = orig.header("From")
		}
		if in.Subject == "" {
			in.Subject = orig.header("Subject")
			if !strings.HasPrefix(strings.ToLower(in.Subject), "re:") {
				in.Subject = "Re: " + in.Subject
			}
		}
	}
	raw, to, err := rfc5322(in.To, in.Subject, in.Body, inReplyTo)
	if err != nil {
		return "", err
	}
	draft := map[string]any{"message": map[string]any{"raw": raw}}
	if thread != "" {
		draft["message"].(map[string]any)["threadId"] = thread
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.api(ctx, http.MethodPost, c.gmailURL("drafts"), nil, draft, &out); err != nil {
		return "", err
	}
	code := confirmCode()
	err = customerdb.AddPendingSend(ctx, c.o.DB, customerdb.PendingSend{Code: code, ConversationID: call.ConversationID,
		DraftID: out.ID, Recipients: to, Subject: in.Subject, ExpiresAt: call.Now.Add(confirmTTL)})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Draft saved in Gmail (not sent) to %s, subject %q. Confirmation code: %s. "+
		"It is sent only if the customer answers \"send %s\" within 30 minutes; show them the draft and ask.",
		to, in.Subject, code, code), nil
}

// confirmPhrase finds "send <code>" in the customer's message.
var confirmPhrase = regexp.MustCompile(`(?i)\bsend\s+([A-Z0-9]{6})\b`)

func (c *Client) gmailSend(ctx context.Context, call tools.Call) (string, error) {
	var in struct {
		Code string `json:"code"`
	}
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	code := strings.ToUpper(strings.TrimSpace(in.Code))
	confirmed := false
	for _, m := range confirmPhrase.FindAllStringSubmatch(call.Message, -1) {
		if strings.ToUpper(m[1]) == code {
			confirmed = true
		}
	}
	if !confirmed {
		return "", fmt.Errorf("not sent: the customer has not confirmed. Only the customer's own message \"send %s\" sends this draft; ask them", code)
	}
	p, err := customerdb.ClaimPendingSend(ctx, c.o.DB, call.ConversationID, code, call.Now)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.api(ctx, http.MethodPost, c.gmailURL("drafts/send"), nil, map[string]string{"id": p.DraftID}, &out); err != nil {
		_ = customerdb.UnclaimPendingSend(context.WithoutCancel(ctx), c.o.DB, code)
		return "", err
	}
	return fmt.Sprintf("Sent to %s (subject %q), message id %s.", p.Recipients, p.Subject, out.ID), nil
}

// rfc5322 builds a draft's raw message. Header values with line breaks
// are refused (header injection); the subject is MIME-encoded.
func rfc5322(to, subject, body, inReplyTo string) (raw, recipients string, err error) {
	if strings.ContainsAny(to+subject+inReplyTo, "\r\n") {
		return "", "", fmt.Errorf("%w: to and subject must be one line", tools.ErrBadInput)
	}
	addrs, err := mail.ParseAddressList(to)
	if err != nil || len(addrs) == 0 || len(addrs) > 50 {
		return "", "", fmt.Errorf("%w: to must be 1 to 50 mail addresses", tools.ErrBadInput)
	}
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	recipients = strings.Join(list, ", ")
	var b strings.Builder
	b.WriteString("To: " + recipients + "\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\n")
	if inReplyTo != "" {
		b.WriteString("In-Reply-To: " + inReplyTo + "\r\nReferences: " + inReplyTo + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return base64.URLEncoding.EncodeToString([]byte(b.String())), recipients, nil
}

// confirmCode is 6 characters of an alphabet without look-alikes (0/O, 1/I).
func confirmCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // 32: no modulo bias
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
