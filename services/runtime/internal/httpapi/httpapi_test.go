package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// downDB is a database that does not answer.
type downDB struct{ customerdb.TxBeginner }

func (downDB) Ping(context.Context) error { return errors.New("connection refused") }

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	plan, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{
		CustomerID: "cus_1",
		Version:    "test",
		Plan:       plan,
		DB:         downDB{},
		Log:        slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestErrorsAreJSON(t *testing.T) {
	srv := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
		wantError    string
	}{
		{http.MethodGet, "/health", http.StatusServiceUnavailable, "database unavailable"},
		{http.MethodGet, "/nope", http.StatusNotFound, "not found"},
		{http.MethodPost, "/health", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodDelete, "/status", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodGet, "/status", http.StatusUnauthorized, "missing api key"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error != tc.wantError {
				t.Errorf("error = %q (%v), want %q", body.Error, err, tc.wantError)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow header")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	var readErr error
	h := limitBody(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, readErr = io.Copy(io.Discard, r.Body)
	}))
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
	h.ServeHTTP(httptest.NewRecorder(), r)
	var tooBig *http.MaxBytesError
	if !errors.As(readErr, &tooBig) {
		t.Errorf("reading an oversized body: %v, want *http.MaxBytesError", readErr)
	}
}

func TestPeriod(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		now        time.Time
		start, end string
	}{
		{time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), "2026-01-01", "2026-02-01"},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "2026-12-01", "2027-01-01"},
		{time.Date(2026, 1, 31, 20, 0, 0, 0, ny), "2026-02-01", "2026-03-01"}, // 01:00 UTC Feb 1
	} {
		start, end := Period(tc.now)
		if got := start.Format(time.DateOnly); got != tc.start || start.Location() != time.UTC {
			t.Errorf("Period(%v) start = %v, want %s UTC", tc.now, start, tc.start)
		}
		if got := end.Format(time.DateOnly); got != tc.end {
			t.Errorf("Period(%v) end = %v, want %s", tc.now, end, tc.end)
		}
	}
}
