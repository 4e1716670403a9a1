package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(2, 3, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request = %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key is limited by the first")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after the wait it was told")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("allowed beyond the refill")
	}
	now = now.Add(time.Hour)
	for range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("bucket did not refill to the burst")
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("bucket refilled beyond the burst")
	}
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1, 1, func() time.Time { return now })
	for i := range maxIdleBuckets * 3 {
		l.Allow(fmt.Sprint(i))
		now = now.Add(2 * time.Second)
	}
	if n := len(l.buckets); n > maxIdleBuckets {
		t.Errorf("%d buckets kept", n)
	}
}

func TestDisabled(t *testing.T) {
	l := New(0, 0, nil)
	for range 100 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("a disabled limiter refused")
		}
	}
}
