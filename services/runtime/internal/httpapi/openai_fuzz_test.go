package httpapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzCompletionRequest feeds arbitrary bodies to the completion request's
// decoding and mapping: no panic, and an accepted request always ends with
// a user message that is valid text.
func FuzzCompletionRequest(f *testing.F) {
	f.Add([]byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"x","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}],"n":1}`))
	f.Add([]byte(`{"model":"x","messages":[{"role":"tool","content":null}],"tools":[{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req completionRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		turn, param, err := turnOf(req)
		if err != nil {
			if param == "" && err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if !utf8.ValidString(turn.Message) && utf8.ValidString(string(body)) {
			t.Errorf("message %q is not valid UTF-8", turn.Message)
		}
		for _, m := range turn.History {
			if m.Role != "user" && m.Role != "assistant" {
				t.Errorf("history role %q", m.Role)
			}
		}
	})
}
