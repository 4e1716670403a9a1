package modelproxy

import (
	"encoding/json"
	"testing"
)

// FuzzParse: whatever body the gateway (or an agent inside it) sends, the
// proxy's reading of it does not panic, and a body it forwards is JSON
// naming the model it checked, with the stream's usage asked for.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]}]}`,
		`{"model":"m","messages":[{"role":"tool","content":"x"}],"stream":true,"stream_options":{"include_usage":false}}`,
		`{"model":"m","messages":[{"role":"user"}],"stream":true,"stream_options":null}`,
		`{"model":1}`, `[]`, `null`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, w := range []wire{anthropicWire{}, openaiWire{}} {
			c, err := w.parse([]byte(body))
			if err != nil {
				continue
			}
			var doc struct {
				Model         string `json:"model"`
				StreamOptions *struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(c.body, &doc); err != nil || doc.Model != c.model || c.model == "" {
				t.Fatalf("%T forwards %q (model %q): %v", w, c.body, c.model, err)
			}
			if _, ok := w.(openaiWire); ok && c.stream && (doc.StreamOptions == nil || !doc.StreamOptions.IncludeUsage) {
				t.Fatalf("a stream forwarded without include_usage: %s", c.body)
			}
			var u Usage
			w.event(c.body, &u)
			_, _ = w.usage(c.body)
		}
	})
}
