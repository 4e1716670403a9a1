package signup

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNonce(t *testing.T) {
	a, b := NewNonce(), NewNonce()
	if len(a) != 43 || a == b || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		t.Fatalf("nonces %q %q: want distinct 43-character base64url strings", a, b)
	}
	// echo -n abc | sha256sum
	if got := HashNonce("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashNonce(abc) = %s", got)
	}
}

// Reveal sends the nonce to the session's reveal endpoint and reports the
// ingress's refusals with their status.
func TestReveal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Nonce string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/provisioning/cs_test_1/reveal" || body.Nonce != "right-nonce-000000" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":"this browser cannot reveal this key"}`))
			return
		}
		_, _ = w.Write([]byte(`{"api_key":"claw_k","instance_url":"http://i"}`))
	}))
	defer srv.Close()
	key, url, err := Reveal(context.Background(), srv.Client(), srv.URL, "cs_test_1", "right-nonce-000000")
	if err != nil || key != "claw_k" || url != "http://i" {
		t.Fatalf("Reveal = %q, %q, %v", key, url, err)
	}
	if _, _, err := Reveal(context.Background(), srv.Client(), srv.URL, "cs_test_1", "wrong-nonce-000000"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong nonce: %v", err)
	}
}
