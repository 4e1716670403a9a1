package telegramtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hook is a bot's webhook endpoint: it records deliveries and answers the
// status the test sets.
type hook struct {
	mu      sync.Mutex
	status  int
	secrets []string
	ids     []int64
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var u struct {
		UpdateID int64 `json:"update_id"`
	}
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &u)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.secrets = append(h.secrets, r.Header.Get(SecretHeader))
	h.ids = append(h.ids, u.UpdateID)
	w.WriteHeader(h.status)
}

func (h *hook) seen() ([]int64, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.ids...), append([]string(nil), h.secrets...)
}

func TestWebhookDeliveries(t *testing.T) {
	s := New(t)
	token := s.AddBot("hook_bot")
	h := &hook{status: http.StatusInternalServerError}
	tls := httptest.NewTLSServer(h)
	t.Cleanup(tls.Close)
	s.SetWebhookClient(tls.Client())

	// Telegram takes only https URLs and secrets of its alphabet.
	for _, tt := range []struct {
		name   string
		params map[string]any
		want   string
	}{
		{"plain http", map[string]any{"url": "http://example.com/hook"}, "HTTPS URL must be provided"},
		{"bad secret", map[string]any{"url": tls.URL + "/hook", "secret_token": "no spaces!"}, "unallowed characters"},
		{"too many connections", map[string]any{"url": tls.URL + "/hook", "max_connections": 101}, "max_connections"},
	} {
		status, out := call(t, s, token, "setWebhook", tt.params)
		if desc, _ := out["description"].(string); status != 400 || !strings.Contains(desc, tt.want) {
			t.Errorf("%s: %d %v", tt.name, status, out)
		}
	}
	if status, out := call(t, s, token, "setWebhook", map[string]any{"url": tls.URL + "/hook", "secret_token": "s3cret_-X",
		"allowed_updates": []string{"message"}}); status != 200 {
		t.Fatalf("setWebhook = %d %v", status, out)
	}
	if status, out := call(t, s, token, "getUpdates", map[string]any{"offset": 0}); status != http.StatusConflict {
		t.Fatalf("getUpdates with a webhook set = %d %v", status, out)
	}

	// A failing endpoint gets the update again until it answers 2xx.
	id := s.SendText(token, User{ID: 5, FirstName: "Ann"}, "hello")
	deadline := time.Now().Add(10 * time.Second)
	for ids, _ := h.seen(); len(ids) < 2; ids, _ = h.seen() {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries = %v", ids)
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, info := call(t, s, token, "getWebhookInfo", map[string]any{})
	res := info["result"].(map[string]any)
	if res["url"] != tls.URL+"/hook" || res["pending_update_count"] != 1.0 || res["max_connections"] != 40.0 || !strings.Contains(res["last_error_message"].(string), "500") {
		t.Fatalf("webhook info = %v", res)
	}
	h.mu.Lock()
	h.status = http.StatusOK
	h.mu.Unlock()
	for s.Pending(token) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the update was not confirmed by a 200")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ids, secrets := h.seen()
	for i := range ids {
		if ids[i] != id || secrets[i] != "s3cret_-X" {
			t.Fatalf("delivery %d: update %d secret %q", i, ids[i], secrets[i])
		}
	}
	if status, err := s.Redeliver(token, id); err != nil || status != 200 {
		t.Fatalf("redeliver = %d %v", status, err)
	}

	// Deleted: updates wait for getUpdates again.
	if status, _ := call(t, s, token, "deleteWebhook", map[string]any{}); status != 200 {
		t.Fatal("deleteWebhook")
	}
	n := len(ids) + 1
	next := s.SendText(token, User{ID: 5, FirstName: "Ann"}, "polling again")
	_, out := call(t, s, token, "getUpdates", map[string]any{"offset": 0})
	if ups := out["result"].([]any); len(ups) != 1 || ups[0].(map[string]any)["update_id"] != float64(next) {
		t.Fatalf("getUpdates after deleteWebhook = %v", out)
	}
	if ids, _ := h.seen(); len(ids) != n {
		t.Fatalf("a delivery after deleteWebhook: %v", ids)
	}
}
