package runtime_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm/anthropictest"
)

// TestJSONWithoutContentType: /api/chat and /api/memory read a JSON body
// sent with no Content-Type, or as `curl -d` sends it, as the product's
// documentation shows; a body that is not JSON is still a clear 400.
func TestJSONWithoutContentType(t *testing.T) {
	model := anthropictest.New(t)
	in := startInstance(t, "cus_CURL", plans.Starter, withAnthropic(model))
	key := in.addKey(t)
	post := func(path, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, in.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, ct := range []string{"", "application/x-www-form-urlencoded"} {
		if status, body := post("/api/chat", ct, `{"message":"hello from curl"}`); status != http.StatusOK || !strings.Contains(body, "Echo: hello from curl") {
			t.Errorf("chat with Content-Type %q = %d %s", ct, status, body)
		}
		if status, body := post("/api/memory", ct, `{"content":"saved with curl"}`); status != http.StatusCreated {
			t.Errorf("memory with Content-Type %q = %d %s", ct, status, body)
		}
		if status, body := post("/api/memory", ct, `content=saved with curl`); status != http.StatusBadRequest || !strings.Contains(body, "not valid JSON") {
			t.Errorf("form data with Content-Type %q = %d %s", ct, status, body)
		}
	}
	if status, _ := post("/api/memory", "text/plain", `{"content":"x"}`); status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain = %d, want 415", status)
	}
}
