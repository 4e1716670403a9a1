// Package telegramtest is a Telegram Bot API test server for tests: real
// HTTP on the real wire format (POST /bot<token>/<method> with a JSON body;
// answers {"ok":true,"result":…} or {"ok":false,"error_code":…,
// "description":…}). Every call is checked against the Bot API definition
// (../shared/reference/telegram/api.json, read in place; see SpecPath): the
// method exists, required fields are present, no unknown field is sent, and
// each field has one of its types. The objects it answers and the updates a
// test scripts are checked against the definition's types too, so the
// server cannot drift from what Telegram sends.
//
// A test adds bots (each with its token), scripts incoming messages that
// getUpdates then returns (long polling with offset and timeout, as
// Telegram: an update is forgotten once a call asks for a higher offset, and
// a second concurrent getUpdates ends the first with 409 Conflict), reads
// the messages and chat actions the bot sent, and revokes a token (every
// call then answers 401 Unauthorized, as after /revoke in BotFather).
//
// Webhooks as Telegram: setWebhook takes an https URL only (a test puts an
// httptest TLS server in front of its bot and hands its client to
// SetWebhookClient) and a secret_token of Telegram's alphabet; while a
// webhook is set, getUpdates answers 409 Conflict and every update is
// POSTed to the URL in order with the X-Telegram-Bot-Api-Secret-Token
// header, confirmed by a 2xx answer and retried with backoff otherwise;
// getWebhookInfo reports the URL, pending count and last error;
// deleteWebhook returns the updates to getUpdates. Redeliver repeats a
// delivery, as Telegram does when an answer was lost.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// MaxMessageLen is Telegram's limit of a message's text, in UTF-16 code
// units after entity parsing.
const MaxMessageLen = 4096

// maxPollTimeout bounds a long poll, as Telegram does (50 s).
const maxPollTimeout = 50

// chatActions are sendChatAction's actions.
var chatActions = []string{"typing", "upload_photo", "record_video", "upload_video", "record_voice",
	"upload_voice", "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}

// User is a Telegram user who writes to a bot.
type User struct {
	ID        int64
	FirstName string
	Username  string
}

// Message is a message a bot sent.
type Message struct {
	ChatID    int64
	MessageID int64
	Text      string
	ParseMode string
	Time      time.Time
}

// Action is a chat action a bot sent (sendChatAction).
type Action struct {
	ChatID int64
	Action string
	Time   time.Time
}

// Server is the test server. Its zero value is not usable; call New.
type Server struct {
	// URL is the API root to configure as TELEGRAM_API_BASE_URL.
	URL string

	spec *Spec
	tb   testing.TB

	// hooks counts the webhook delivery loops; closed stops them.
	hooks  sync.WaitGroup
	closed chan struct{}

	mu         sync.Mutex
	hookClient *http.Client
	bots       map[string]*bot
	nextBot    int64
	rejected   []string
	calls      map[string]int
}

type bot struct {
	id       int64
	username string
	revoked  bool

	updates  []map[string]any // pending, ascending update_id
	nextUpd  int64
	nextMsg  int64
	chats    map[int64]User
	sent     []Message
	actions  []Action
	arrived  chan struct{} // closed and replaced when an update arrives
	poll     chan struct{} // closed to end the current long poll with 409
	webhook  string
	secret   string
	received []int64 // update ids ever returned or POSTed
	all      map[int64]map[string]any

	// Webhook mode: allowed_updates, max_connections (recorded; this
	// server delivers one at a time), the delivery loop's stop, last error.
	allowed   []string
	maxConns  int
	hookStop  chan struct{}
	lastErr   string
	lastErrAt time.Time
}

// New starts a server, closed when the test ends. The test fails at its end
// if any call was rejected by the definition, unless it read the
// rejections with Rejected.
func New(tb testing.TB) *Server {
	tb.Helper()
	spec, err := LoadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{spec: spec, tb: tb, bots: make(map[string]*bot), nextBot: 7000000000, calls: make(map[string]int),
		closed: make(chan struct{}), hookClient: &http.Client{Timeout: 30 * time.Second}}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = hs.URL
	tb.Cleanup(func() {
		close(s.closed)
		s.hooks.Wait()
		hs.CloseClientConnections()
		hs.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.rejected) > 0 {
			tb.Errorf("telegramtest: %d calls rejected by the Bot API definition:\n%s", len(s.rejected), strings.Join(s.rejected, "\n"))
		}
	})
	return s
}

// AddBot creates a bot and returns its token ("<bot id>:<secret>", as
// BotFather issues them).
func (s *Server) AddBot(username string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextBot++
	token := fmt.Sprintf("%d:AAH%032x", s.nextBot, s.nextBot*7919)
	s.bots[token] = &bot{id: s.nextBot, username: username, nextUpd: 100000, nextMsg: 1,
		chats: make(map[int64]User), arrived: make(chan struct{}), all: make(map[int64]map[string]any)}
	return token
}

// BotID returns the id of the bot with token.
func (s *Server) BotID(token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustBot(token).id
}

// Revoke makes token invalid: every call with it answers 401.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.mustBot(token)
	b.revoked = true
	if b.poll != nil {
		close(b.poll)
		b.poll = nil
	}
}

// SendText scripts a private message from user to the bot and returns its
// update_id.
func (s *Server) SendText(token string, from User, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.mustBot(token)
	b.chats[from.ID] = from
	user := map[string]any{"id": from.ID, "is_bot": false, "first_name": from.FirstName}
	chat := map[string]any{"id": from.ID, "type": "private", "first_name": from.FirstName}
	if from.Username != "" {
		user["username"] = from.Username
		chat["username"] = from.Username
	}
	id := b.nextUpd
	b.nextUpd++
	msgID := b.nextMsg
	b.nextMsg++
	u := map[string]any{
		"update_id": id,
		"message": map[string]any{
			"message_id": msgID, "from": user, "chat": chat,
			"date": time.Now().Unix(), "text": text,
		},
	}
	if err := s.spec.CheckObject("Update", roundTrip(u)); err != nil {
		s.tb.Fatalf("telegramtest: scripted update does not match the definition: %v", err)
	}
	b.updates = append(b.updates, u)
	b.all[id] = u
	close(b.arrived)
	b.arrived = make(chan struct{})
	return id
}

// Sent returns the messages the bot sent, in order.
func (s *Server) Sent(token string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mustBot(token).sent)
}

// Actions returns the chat actions the bot sent, in order.
func (s *Server) Actions(token string) []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mustBot(token).actions)
}

// Pending returns how many scripted updates no getUpdates (or webhook
// answer) has confirmed.
func (s *Server) Pending(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mustBot(token).updates)
}

// Delivered returns the update ids getUpdates returned or the webhook was
// sent, in order, with repeats (an update returned again because it was not
// confirmed).
func (s *Server) Delivered(token string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mustBot(token).received)
}

// Webhook returns the bot's webhook URL and secret token ("" when none).
func (s *Server) Webhook(token string) (url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.mustBot(token)
	return b.webhook, b.secret
}

// Calls returns how many calls of method the server answered, valid or not.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Rejected returns the calls the definition rejected and clears them, so a
// test that sends bad calls on purpose does not fail at its end.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rejected
	s.rejected = nil
	return r
}

// WaitSent waits until the bot has sent at least n messages and returns
// them; it fails the test after timeout.
func (s *Server) WaitSent(tb testing.TB, token string, n int, timeout time.Duration) []Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if sent := s.Sent(token); len(sent) >= n {
			return sent
		}
		if time.Now().After(deadline) {
			tb.Fatalf("telegramtest: %d messages sent within %v, want %d: %+v", len(s.Sent(token)), timeout, n, s.Sent(token))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) mustBot(token string) *bot {
	b, ok := s.bots[token]
	if !ok {
		s.tb.Fatalf("telegramtest: no bot with that token")
	}
	return b
}

// roundTrip gives v the shape it has on the wire (numbers as float64).
func roundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// utf16Len is a text's length as Telegram counts it.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// fail answers an error the way the Bot API does.
func fail(w http.ResponseWriter, code int, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": code, "description": description})
}

func ok(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// readParams decodes a call's parameters: a JSON object body, or none.
func readParams(r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	params := map[string]any{}
	if len(strings.TrimSpace(string(body))) == 0 {
		return params, nil
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("content type %q: this test server takes JSON bodies", ct)
	}
	if err := json.Unmarshal(body, &params); err != nil {
		return nil, fmt.Errorf("body is not a JSON object: %v", err)
	}
	return params, nil
}
