package sweeper

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type fake struct {
	mu      sync.Mutex
	due     []string
	expired []string
	fail    map[string]bool
	house   int
}

func (f *fake) DueSagas(_ context.Context, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(limit, len(f.due))
	return append([]string(nil), f.due[:n]...), nil
}

func (f *fake) Expire(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[id] {
		return errors.New("db down")
	}
	f.expired = append(f.expired, id)
	for i, d := range f.due {
		if d == id {
			f.due = append(f.due[:i], f.due[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fake) DueCustomers(context.Context, int) ([]string, error) { return nil, nil }

func (f *fake) Reconcile(context.Context, string) error { return nil }

func (f *fake) Housekeep(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.house++
	return nil
}

func TestSweepExpiresEverythingDue(t *testing.T) {
	f := &fake{fail: map[string]bool{}}
	for i := range 250 {
		f.due = append(f.due, string(rune('a'+i%26))+string(rune('0'+i/26)))
	}
	s := New(f, time.Hour, slog.New(slog.DiscardHandler))
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.expired) != 250 || len(f.due) != 0 {
		t.Errorf("expired %d, left %d", len(f.expired), len(f.due))
	}
}

func TestSweepGoesOnPastAFailure(t *testing.T) {
	f := &fake{due: []string{"a", "b", "c"}, fail: map[string]bool{"b": true}}
	s := New(f, time.Hour, slog.New(slog.DiscardHandler))
	if err := s.Sweep(context.Background()); err == nil {
		t.Error("want the failure reported")
	}
	if len(f.expired) != 2 {
		t.Errorf("expired %v, want a and c", f.expired)
	}
}

func TestRunSweepsAndHousekeepsUntilCancelled(t *testing.T) {
	f := &fake{due: []string{"a"}, fail: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- New(f, time.Millisecond, slog.New(slog.DiscardHandler)).Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		ok := len(f.expired) == 1 && f.house > 0
		f.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not expire the due saga")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
