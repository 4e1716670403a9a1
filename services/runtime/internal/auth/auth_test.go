package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/apikey"
)

func TestRequire(t *testing.T) {
	good, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	broken, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	check := func(_ context.Context, hash []byte) (bool, error) {
		switch {
		case bytes.Equal(hash, apikey.Hash(good)):
			return true, nil
		case bytes.Equal(hash, apikey.Hash(broken)):
			return false, errors.New("connection refused")
		}
		return false, nil
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	h := Require(check, log)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))

	for _, tc := range []struct {
		name, header string
		status       int
		challenge    bool
		msg          string
	}{
		{"valid", "Bearer " + good, http.StatusTeapot, false, ""},
		{"missing", "", http.StatusUnauthorized, true, "missing api key"},
		{"scheme only", "Bearer ", http.StatusUnauthorized, true, "missing api key"},
		{"basic auth", "Basic Zm9vOmJhcg==", http.StatusUnauthorized, true, "malformed api key"},
		{"malformed", "Bearer claw_short", http.StatusUnauthorized, true, "malformed api key"},
		{"unknown", "Bearer " + unknown, http.StatusUnauthorized, true, "invalid api key"},
		{"store down", "Bearer " + broken, http.StatusServiceUnavailable, false, "cannot verify api key, try again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/status", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); tc.challenge != strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if tc.msg == "" {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != tc.msg {
				t.Errorf("body = %s (%v), want error %q", w.Body, err, tc.msg)
			}
		})
	}
	for _, k := range []string{good, unknown, broken} {
		if strings.Contains(logs.String(), k) {
			t.Errorf("logs contain a full api key:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), apikey.Prefix(unknown)) {
		t.Errorf("logs lack the prefix of the rejected key:\n%s", logs.String())
	}
}

func TestRequireKeyOrToken(t *testing.T) {
	const token = "tok_0123456789abcdef0123456789abcdef"
	good, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	check := func(_ context.Context, hash []byte) (bool, error) { return bytes.Equal(hash, apikey.Hash(good)), nil }
	var logs bytes.Buffer
	var who string
	h := RequireKeyOrToken(check, token, slog.New(slog.NewJSONHandler(&logs, nil)))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who = Identity(r.Context())
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, tc := range []struct {
		name, header string
		status       int
		identity     string
	}{
		{"instance token", "Bearer " + token, http.StatusTeapot, InstanceIdentity},
		{"lowercase scheme", "bearer " + token, http.StatusTeapot, InstanceIdentity},
		{"api key", "Bearer " + good, http.StatusTeapot, "key:" + hexPrefix(apikey.Hash(good))},
		{"token prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized, ""},
		{"token longer", "Bearer " + token + "x", http.StatusUnauthorized, ""},
		{"empty", "", http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			who = ""
			r := httptest.NewRequest(http.MethodGet, "/status", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status || who != tc.identity {
				t.Errorf("status %d identity %q, want %d %q", w.Code, who, tc.status, tc.identity)
			}
		})
	}
	// Without a configured token, the token is just a malformed key.
	plain := Require(check, slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	r := httptest.NewRequest(http.MethodGet, "/status", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	plain.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("token accepted where none is configured: %d", w.Code)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs contain the instance token:\n%s", logs.String())
	}
}

func hexPrefix(hash []byte) string { return hex.EncodeToString(hash[:8]) }
