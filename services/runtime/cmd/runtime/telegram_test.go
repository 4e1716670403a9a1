package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/telegramtest"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
	"clawdbot.cloud/services/runtime/internal/llm/llmtest"
)

// tgInstance is the runtime binary with a Telegram test server and a fake
// Messages API in its environment, restartable on the same database.
type tgInstance struct {
	bin, cfg, key string
	env           []string
	model         *anthropictest.Server
	tg            *telegramtest.Server
	db            *pgxpool.Pool

	cmd    *exec.Cmd
	logs   *testbuf.Buffer
	exited <-chan error
	url    string
	// allLogs keeps the logs of every run.
	allLogs []*testbuf.Buffer
	// backend is url for the TLS edge in front (webhook tests), set at
	// every start.
	backend atomic.Pointer[string]
}

func startTelegramInstance(t testing.TB) *tgInstance {
	t.Helper()
	return startTelegramInstanceWith(t, nil)
}

// startTelegramInstanceWith is startTelegramInstance with a hook that may
// change the instance's environment before the binary starts.
func startTelegramInstanceWith(t testing.TB, hook func(*tgInstance)) *tgInstance {
	t.Helper()
	in := &tgInstance{bin: buildBinary(t), model: anthropictest.New(t), tg: telegramtest.New(t)}
	dbURL := pgtest.NewDatabase(t)
	cfg, err := json.Marshal(map[string]any{
		"customer_id": "cus_TELEGRAM", "plan": "starter", "listen_addr": "127.0.0.1:0",
		"database_url": dbURL, "instance_id": "bin-tg", "version": "v-bin",
		"instance_token": instanceToken, "rate_per_second": -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.cfg = string(cfg)
	in.env = []string{"ANTHROPIC_API_KEY=" + anthropictest.APIKey, "ANTHROPIC_BASE_URL=" + in.model.URL,
		"TELEGRAM_API_BASE_URL=" + in.tg.URL, "GOMEMLIMIT=460MiB", "GOMAXPROCS=1"}
	if hook != nil {
		hook(in)
	}
	in.start(t)

	in.key, err = apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if in.db, err = pgxpool.New(t.Context(), dbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.db.Close)
	if err := customerdb.AddAPIKey(t.Context(), in.db, apikey.Hash(in.key), apikey.Prefix(in.key)); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *tgInstance) start(t testing.TB) {
	t.Helper()
	in.cmd, in.logs, in.exited = start(t, in.bin, in.cfg, in.env...)
	in.allLogs = append(in.allLogs, in.logs)
	in.url = "http://" + waitServing(t, in.logs, in.exited)
	u := in.url
	in.backend.Store(&u)
}

// stop ends the runtime with sig and waits for it.
func (in *tgInstance) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := in.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("runtime still running 30 s after %v", sig)
	}
}

// api calls the instance's API with the key and decodes a JSON answer.
func (in *tgInstance) api(t testing.TB, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, in.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+in.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s = %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// tgState is GET /api/channels/telegram.
type tgState struct {
	Connected, Paired, Broken bool
	BotUsername               string `json:"bot_username"`
	BrokenReason              string `json:"broken_reason"`
	LastMessageAt             string `json:"last_message_at"`
	PairingCode               string `json:"pairing_code"`
	BotToken                  string `json:"bot_token"`
}

// messagesUsed is the month's settled messages (/status).
func (in *tgInstance) messagesUsed(t testing.TB) int64 {
	t.Helper()
	var st struct{ Usage struct{ Messages int64 } }
	if code := in.api(t, http.MethodGet, "/status", nil, &st); code != http.StatusOK {
		t.Fatalf("GET /status = %d", code)
	}
	return st.Usage.Messages
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func texts(ms []telegramtest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func TestBinaryTelegramAcrossRestarts(t *testing.T) {
	in := startTelegramInstance(t)
	token := in.tg.AddBot("ann_claw_bot")
	owner := telegramtest.User{ID: 1001, FirstName: "Ann"}
	stranger := telegramtest.User{ID: 666, FirstName: "Mallory"}

	// Bad tokens are refused with a clear error; nothing is stored.
	var errBody struct{ Error string }
	if code := in.api(t, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": "not-a-token"}, &errBody); code != http.StatusBadRequest || errBody.Error == "" {
		t.Fatalf("malformed token = %d %q", code, errBody.Error)
	}
	unknown := "123456:AAH" + strings.Repeat("x", 32)
	if code := in.api(t, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": unknown}, &errBody); code != http.StatusUnprocessableEntity {
		t.Fatalf("token Telegram refuses = %d %q", code, errBody.Error)
	}

	// Connect: the answer has the state and a pairing code, never the token.
	var conn tgState
	if code := in.api(t, http.MethodPut, "/api/channels/telegram", map[string]string{"bot_token": token}, &conn); code != http.StatusOK {
		t.Fatalf("PUT = %d", code)
	}
	if !conn.Connected || conn.Paired || conn.BotUsername != "ann_claw_bot" || len(conn.PairingCode) != 10 || conn.BotToken != "" {
		t.Fatalf("connected = %+v", conn)
	}
	var sealed []byte
	if err := in.db.QueryRow(t.Context(), "SELECT bot_token_sealed FROM telegram_channel").Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(token)) || bytes.Contains(sealed, []byte(strings.Split(token, ":")[1])) {
		t.Fatal("the bot token is stored in clear")
	}

	// A stranger (even one guessing a code) is refused once and costs nothing.
	in.tg.SendText(token, stranger, "/start AAAAAAAAAA")
	in.tg.SendText(token, stranger, "hello? let me in")
	in.tg.WaitSent(t, token, 1, 30*time.Second)
	waitFor(t, "the stranger's updates to be confirmed", func() bool { return in.tg.Pending(token) == 0 })

	// The owner pairs with the code.
	in.tg.SendText(token, owner, "/start "+strings.ToLower(conn.PairingCode))
	sent := in.tg.WaitSent(t, token, 2, 30*time.Second)
	if sent[0].ChatID != stranger.ID || !strings.Contains(sent[0].Text, "private assistant") ||
		sent[1].ChatID != owner.ID || !strings.HasPrefix(sent[1].Text, "Paired") {
		t.Fatalf("sent = %q", texts(sent))
	}
	if n := len(in.model.Requests()); n != 0 {
		t.Fatalf("the model got %d requests before the owner wrote", n)
	}
	if used := in.messagesUsed(t); used != 0 {
		t.Fatalf("stranger and pairing used %d messages of the quota", used)
	}
	var st tgState
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if !st.Paired || st.PairingCode != "" || st.BotToken != "" {
		t.Fatalf("after pairing: %+v", st)
	}

	// The owner's message goes through the agent; typing is shown.
	in.tg.SendText(token, owner, "hello from telegram")
	sent = in.tg.WaitSent(t, token, 3, 30*time.Second)
	if sent[2].Text != "Echo: hello from telegram" || sent[2].ChatID != owner.ID || sent[2].ParseMode != "" {
		t.Fatalf("reply = %+v", sent[2])
	}
	if acts := in.tg.Actions(token); len(acts) == 0 || acts[0].Action != "typing" || acts[0].ChatID != owner.ID {
		t.Fatalf("chat actions = %+v", acts)
	}
	// A stranger writing again gets no second refusal.
	in.tg.SendText(token, stranger, "please?")

	// A long reply with Markdown-looking text is split at Telegram's limit
	// and sent as plain text, unchanged.
	long := strings.Repeat("*bold* _x_ [link](http://e.x) 1.5! ", 200) // 7,000 characters
	in.model.Enqueue(llmtest.Answer{Text: long})
	in.tg.SendText(token, owner, "say a lot")
	sent = in.tg.WaitSent(t, token, 5, 30*time.Second)
	joined := ""
	for _, m := range sent[3:] {
		if len([]rune(m.Text)) > telegramtest.MaxMessageLen {
			t.Errorf("a message of %d characters", len([]rune(m.Text)))
		}
		joined += m.Text + " "
	}
	if strings.Join(strings.Fields(joined), " ") != strings.Join(strings.Fields(long), " ") {
		t.Errorf("the long reply was changed on the way")
	}

	// Restart: an update sent while the runtime is down is answered once,
	// and nothing before it is repeated.
	in.stop(t, syscall.SIGTERM)
	in.tg.SendText(token, owner, "while you were away")
	in.start(t)
	sent = in.tg.WaitSent(t, token, 6, 30*time.Second)
	if sent[5].Text != "Echo: while you were away" {
		t.Fatalf("after restart: %q", texts(sent[5:]))
	}

	// Killed mid-turn: the update is not rerun; the owner is asked to resend.
	in.model.Enqueue(llmtest.Answer{Hang: true})
	before := len(in.model.Requests())
	in.tg.SendText(token, owner, "a slow question")
	waitFor(t, "the slow turn to reach the model", func() bool { return len(in.model.Requests()) == before+1 })
	in.stop(t, syscall.SIGKILL)
	in.start(t)
	sent = in.tg.WaitSent(t, token, 7, 30*time.Second)
	if !strings.Contains(sent[6].Text, "send it again") {
		t.Fatalf("after a kill mid-turn: %q", texts(sent[6:]))
	}
	in.tg.SendText(token, owner, "the slow question again")
	sent = in.tg.WaitSent(t, token, 8, 30*time.Second)
	if sent[7].Text != "Echo: the slow question again" {
		t.Fatalf("resent: %q", sent[7].Text)
	}

	// Exactly: one refusal, pairing, four answers and the resend request;
	// the model saw each owner message once (the slow one once, not rerun).
	time.Sleep(200 * time.Millisecond) // let a wrongly repeated update show
	if sent := in.tg.Sent(token); len(sent) != 8 {
		t.Fatalf("sent %d messages: %q", len(sent), texts(sent))
	}
	var asked []string
	for _, r := range in.model.Requests() {
		if last, err := llmtest.LastUser(r); err == nil {
			asked = append(asked, last)
		}
	}
	want := []string{"hello from telegram", "say a lot", "while you were away", "a slow question", "the slow question again"}
	if strings.Join(asked, "|") != strings.Join(want, "|") {
		t.Fatalf("model asked %q, want %q", asked, want)
	}
	if used := in.messagesUsed(t); used != 4 {
		t.Errorf("messages used = %d, want 4 (the interrupted turn is not settled)", used)
	}
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if st.LastMessageAt == "" || st.Broken {
		t.Errorf("state = %+v", st)
	}

	// Revoked in BotFather: the channel is broken with the reason.
	in.tg.Revoke(token)
	waitFor(t, "the channel to be marked broken", func() bool {
		in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
		return st.Broken
	})
	if !strings.Contains(st.BrokenReason, "401") || !st.Connected {
		t.Errorf("broken state = %+v", st)
	}
	// /status tells the platform (the health service mails the customer).
	var status struct {
		Channels struct {
			Telegram struct {
				Broken   bool
				BrokenAt string `json:"broken_at"`
			}
		}
	}
	in.api(t, http.MethodGet, "/status", nil, &status)
	if !status.Channels.Telegram.Broken || status.Channels.Telegram.BrokenAt == "" {
		t.Errorf("/status channels = %+v", status.Channels)
	}

	// Disconnect.
	if code := in.api(t, http.MethodDelete, "/api/channels/telegram", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	in.api(t, http.MethodGet, "/api/channels/telegram", nil, &st)
	if st.Connected {
		t.Errorf("after DELETE: %+v", st)
	}
	if code := in.api(t, http.MethodDelete, "/api/channels/telegram", nil, nil); code != http.StatusNotFound {
		t.Errorf("second DELETE = %d", code)
	}
	in.stop(t, syscall.SIGTERM)
	for _, l := range in.allLogs {
		for _, secret := range []string{token, strings.Split(token, ":")[1], conn.PairingCode, "hello from telegram"} {
			if strings.Contains(l.String(), secret) {
				t.Errorf("logs contain %q", secret)
			}
		}
	}
}
