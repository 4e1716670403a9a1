package customerdb

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/pgtest"
)

// TestReserveTurnConcurrent has 50 turns reserve at once with 10 messages
// left: exactly 10 get a reservation. Without the advisory lock, most
// reservations read the same count and more than 10 pass: each turn holds
// its own connection and all start together, so their reads overlap.
func TestReserveTurnConcurrent(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err := pgxpool.New(ctx, url+sep+"pool_max_conns=50")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	lim := TurnLimits{Messages: 100}
	if err := AddUsage(ctx, pool, now, UsageTotals{Messages: 90}); err != nil {
		t.Fatal(err)
	}
	var wg, ready sync.WaitGroup
	var mu sync.Mutex
	var ok, spent int
	start := make(chan struct{})
	ready.Add(50)
	for range 50 {
		wg.Go(func() {
			conn, err := pool.Acquire(ctx)
			ready.Done()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Release()
			<-start
			_, _, err = ReserveTurn(ctx, conn, now, from, to, lim)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrMessagesSpent):
				spent++
			default:
				t.Error(err)
			}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	if ok != 10 || spent != 40 {
		t.Errorf("%d reserved, %d refused; want 10 and 40", ok, spent)
	}
}

// TestSettleAndRelease: a settled turn moves from reserved to used, a
// released one frees its message but keeps its tokens, and settled tokens
// past the budget refuse the next turn.
func TestSettleAndRelease(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	lim := TurnLimits{Messages: 2, Tokens: 1000}

	a, _, err := ReserveTurn(ctx, pool, now, from, to, lim)
	if err != nil {
		t.Fatal(err)
	}
	b, use, err := ReserveTurn(ctx, pool, now, from, to, lim)
	if err != nil || use.Reserved != 1 {
		t.Fatalf("second reservation: %+v, %v; want one reserved before it", use, err)
	}
	if _, use, err := ReserveTurn(ctx, pool, now, from, to, lim); !errors.Is(err, ErrMessagesSpent) || use.Reserved != 2 {
		t.Fatalf("third reservation: %+v, %v; want ErrMessagesSpent", use, err)
	}
	if err := ReleaseTurn(ctx, pool, b, UsageTotals{InputTokens: 5}); err != nil {
		t.Fatal(err)
	}
	c, m, err := StartAgentConversation(ctx, pool, "", "t", "hello")
	if err != nil {
		t.Fatal(err)
	}
	_ = m
	if _, err := SettleTurn(ctx, pool, a, Message{ConversationID: c.ID, Content: "hi", InputTokens: 600, OutputTokens: 400}); err != nil {
		t.Fatal(err)
	}
	u, err := Usage(ctx, pool, from, to)
	if want := (UsageTotals{Messages: 1, InputTokens: 605, OutputTokens: 400}); err != nil || u != want {
		t.Fatalf("usage = %+v, %v; want %+v", u, err, want)
	}
	if _, use, err := ReserveTurn(ctx, pool, now, from, to, lim); !errors.Is(err, ErrTokensSpent) || use.Reserved != 0 {
		t.Fatalf("reservation past the token budget: %+v, %v; want ErrTokensSpent", use, err)
	}
	// A deleted conversation: nothing stored, the reservation stays for
	// the caller to release.
	lim.Tokens = 0
	d, _, err := ReserveTurn(ctx, pool, now, from, to, lim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SettleTurn(ctx, pool, d, Message{ConversationID: "00000000-0000-0000-0000-000000000000", Content: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("settle into a deleted conversation: %v", err)
	}
	if _, use, _ := ReserveTurn(ctx, pool, now, from, to, lim); use.Reserved != 1 {
		t.Errorf("after a failed settle: %+v; want the reservation kept", use)
	}
}

// TestSettleMeteredTurn: the reply is stored with its tokens and the
// reservation given up, but nothing is counted (the model proxy counted
// the turn's calls).
func TestSettleMeteredTurn(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	lim := TurnLimits{Messages: 1}
	r, _, err := ReserveTurn(ctx, pool, now, from, to, lim)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := StartAgentConversation(ctx, pool, "", "t", "hello")
	if err != nil {
		t.Fatal(err)
	}
	m, err := SettleMeteredTurn(ctx, pool, r, Message{ConversationID: c.ID, Content: "hi", Model: "m", InputTokens: 600, OutputTokens: 40})
	if err != nil || m.Role != RoleAssistant || m.InputTokens != 600 {
		t.Fatalf("SettleMeteredTurn = %+v, %v", m, err)
	}
	if u, err := Usage(ctx, pool, from, to); err != nil || u != (UsageTotals{}) {
		t.Errorf("usage = %+v, %v; want nothing counted", u, err)
	}
	// The reservation is gone: the one message of the period is free.
	if _, use, err := ReserveTurn(ctx, pool, now, from, to, lim); err != nil || use.Reserved != 0 {
		t.Errorf("after settling: %+v, %v; want the reservation given up", use, err)
	}
	if _, err := SettleMeteredTurn(ctx, pool, r, Message{ConversationID: "00000000-0000-0000-0000-000000000000", Content: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("settle into a deleted conversation: %v", err)
	}
}
