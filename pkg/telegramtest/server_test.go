package telegramtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// call posts params to method and returns the decoded answer.
func call(t *testing.T, s *Server, token, method string, params any) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(params)
	resp, err := http.Post(s.URL+"/bot"+token+"/"+method, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestCallsAreCheckedAgainstTheDefinition(t *testing.T) {
	s := New(t)
	token := s.AddBot("claw_test_bot")
	s.SendText(token, User{ID: 42, FirstName: "Ann"}, "hi")
	tests := []struct {
		name, method string
		params       map[string]any
		status       int
		want         string
	}{
		{"valid", "sendMessage", map[string]any{"chat_id": 42, "text": "hello"}, 200, ""},
		{"unknown method", "sendTelepathy", map[string]any{}, 404, "Not Found"},
		{"required field missing", "sendMessage", map[string]any{"chat_id": 42}, 400, `required field "text" is missing`},
		{"wrong type", "sendMessage", map[string]any{"chat_id": 42, "text": 7}, 400, `field "text"`},
		{"not an integer", "sendMessage", map[string]any{"chat_id": 4.5, "text": "x"}, 400, `field "chat_id"`},
		{"unknown field", "sendMessage", map[string]any{"chat_id": 42, "text": "x", "colour": "red"}, 400, `unknown field "colour"`},
		{"unknown chat", "sendMessage", map[string]any{"chat_id": 43, "text": "x"}, 400, "chat not found"},
		{"too long", "sendMessage", map[string]any{"chat_id": 42, "text": strings.Repeat("é", MaxMessageLen+1)}, 400, "message is too long"},
		{"unescaped MarkdownV2", "sendMessage", map[string]any{"chat_id": 42, "text": "1.5", "parse_mode": "MarkdownV2"}, 400, "reserved"},
		{"escaped MarkdownV2", "sendMessage", map[string]any{"chat_id": 42, "text": `1\.5`, "parse_mode": "MarkdownV2"}, 200, ""},
		{"bad action", "sendChatAction", map[string]any{"chat_id": 42, "action": "dancing"}, 400, "wrong parameter action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := call(t, s, token, tt.method, tt.params)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, out)
			}
			if desc, _ := out["description"].(string); !strings.Contains(desc, tt.want) {
				t.Errorf("description %q, want %q", desc, tt.want)
			}
			if okv, _ := out["ok"].(bool); okv != (tt.status == 200) {
				t.Errorf("ok = %v", out["ok"])
			}
		})
	}
	if r := s.Rejected(); len(r) != 5 {
		t.Errorf("rejected %d calls, want the 5 the definition refuses: %q", len(r), r)
	}
	if sent := s.Sent(token); len(sent) != 2 || sent[0].Text != "hello" {
		t.Errorf("sent = %+v", sent)
	}
}

func TestLongPollingWithOffsetAndRevocation(t *testing.T) {
	s := New(t)
	token := s.AddBot("claw_test_bot")
	first := s.SendText(token, User{ID: 1, FirstName: "A"}, "one")
	_, out := call(t, s, token, "getUpdates", map[string]any{"timeout": 0})
	if got := out["result"].([]any); len(got) != 1 {
		t.Fatalf("getUpdates = %v", out)
	}
	// Unconfirmed: returned again until a higher offset is asked for.
	_, out = call(t, s, token, "getUpdates", map[string]any{"offset": first})
	if got := out["result"].([]any); len(got) != 1 {
		t.Fatalf("unconfirmed update not returned again: %v", out)
	}

	done := make(chan map[string]any)
	go func() {
		_, out := call(t, s, token, "getUpdates", map[string]any{"offset": first + 1, "timeout": 10})
		done <- out
	}()
	time.Sleep(50 * time.Millisecond)
	second := s.SendText(token, User{ID: 1, FirstName: "A"}, "two")
	select {
	case out := <-done:
		got := out["result"].([]any)
		if len(got) != 1 || int64(got[0].(map[string]any)["update_id"].(float64)) != second {
			t.Fatalf("long poll = %v", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not return the new update")
	}
	if n := s.Pending(token); n != 1 {
		t.Errorf("pending = %d, want 1 (the second is not confirmed yet)", n)
	}

	s.Revoke(token)
	status, out := call(t, s, token, "getMe", nil)
	if status != 401 || out["description"] != "Unauthorized" || out["error_code"].(float64) != 401 {
		t.Errorf("after revoke: %d %v", status, out)
	}
}
