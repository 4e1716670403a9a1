package retry_test

import (
	"net/http"
	"testing"
	"time"

	"clawdbot.cloud/pkg/retry"
)

func TestAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Retry-After", tc.in)
		}
		got, ok := retry.After(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("After(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {50, time.Second}} {
		if got := retry.Backoff(tc.attempt, 100*time.Millisecond, time.Second); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
}

func TestJitterStaysWithinBounds(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		ceiling := retry.Backoff(attempt, 500*time.Millisecond, 30*time.Second)
		for range 100 {
			if d := retry.Jitter(ceiling); d < ceiling/2 || d > ceiling {
				t.Fatalf("Jitter(%v) = %v, want within [%v, %v]", ceiling, d, ceiling/2, ceiling)
			}
		}
	}
}
