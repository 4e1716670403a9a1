package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/signup"
)

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", resp.Request.URL, err)
	}
}

func contains(haystack []byte, needle string) bool {
	return needle != "" && bytes.Contains(haystack, []byte(needle))
}

func signupPost(ctx context.Context, url, secret string, body []byte) error {
	return signup.Post(ctx, http.DefaultClient, url, secret, body)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesRunning counts live processes whose command line mentions path.
func processesRunning(t *testing.T, path string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(path)) {
			n++
		}
	}
	return n
}
