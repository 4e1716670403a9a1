package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeChatRequest feeds arbitrary bodies to the chat request decoder:
// it must never panic, and must either decode or answer a JSON 4xx.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"message":"hi"}`, `{"message":"hi","conversation_id":"x","stream":true}`, `{"message":1}`,
		`{"message":"hi"} x`, `[]`, `null`, ``, `{"mess`, `{"message":"\ud800"}`, `{"extra":true}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/chat", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		var req chatRequest
		if decode(w, r, &req) {
			if w.Code != http.StatusOK || w.Body.Len() != 0 {
				t.Fatalf("decoded but wrote %d %s", w.Code, w.Body)
			}
			return
		}
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		var e struct{ Error string }
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("error body %q", w.Body)
		}
	})
}
