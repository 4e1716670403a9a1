package neon

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0", 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		got, ok := retryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := min(500*time.Millisecond<<(attempt-1), 30*time.Second)
		for range 100 {
			d := backoff(attempt, 500*time.Millisecond, 30*time.Second)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
}

func TestPermanentStatuses(t *testing.T) {
	for status, want := range map[int]bool{400: true, 401: true, 403: true, 404: true, 422: true,
		408: false, 409: false, 423: false, 429: false, 500: false, 502: false, 503: false} {
		if got := permanent(status); got != want {
			t.Errorf("permanent(%d) = %v, want %v", status, got, want)
		}
	}
}
