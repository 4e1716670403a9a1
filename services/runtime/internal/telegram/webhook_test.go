package telegram

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"message", `{"update_id": 7, "message": {"message_id": 1, "chat": {"id": 5, "type": "private"}, "text": "hi"}}`, true},
		{"other update type", `{"update_id": 8, "edited_message": {}}`, true},
		{"no update id", `{"message": {}}`, false},
		{"zero update id", `{"update_id": 0}`, false},
		{"not an object", `[1]`, false},
		{"trailing data", `{"update_id": 7} {}`, false},
		{"wrong type", `{"update_id": "7"}`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseUpdate([]byte(tc.body))
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadUpdate)) {
				t.Fatalf("parseUpdate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// FuzzParseUpdate feeds the webhook's body parser (it faces the internet,
// behind the secret check) arbitrary bytes: it never panics, and what it
// accepts is valid JSON with a positive update_id.
func FuzzParseUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id": 7, "message": {"message_id": 1, "from": {"id": 5, "is_bot": false, "first_name": "A"}, "chat": {"id": 5, "type": "private"}, "date": 1, "text": "hi"}}`))
	f.Add([]byte(`{"update_id": -1}`))
	f.Add([]byte(`{"update_id": 1e3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseUpdate(body)
		if err != nil {
			return
		}
		if u.UpdateID <= 0 || !json.Valid(body) {
			t.Fatalf("accepted %q as update %d", body, u.UpdateID)
		}
	})
}
