package changes

import (
	"log/slog"
	"testing"
	"time"
)

// TestChangedSince: a waiter that marked before its read re-reads after
// subscribing only when its saga was notified (or a notice may have been
// missed) after the mark; a saga whose last notice was forgotten counts as
// changed for marks taken before it.
func TestChangedSince(t *testing.T) {
	c := New(nil, slog.New(slog.DiscardHandler))
	m0 := c.Mark()
	if c.ChangedSince("a", m0) {
		t.Fatal("nothing notified, yet changed")
	}
	c.wake("a")
	if !c.ChangedSince("a", m0) || c.ChangedSince("b", m0) {
		t.Fatalf("after a's notification: a %v, b %v; want true, false", c.ChangedSince("a", m0), c.ChangedSince("b", m0))
	}
	m1 := c.Mark()
	if c.ChangedSince("a", m1) {
		t.Fatal("a changed since a mark taken after its notification")
	}
	c.wake("")
	if !c.ChangedSince("b", m1) {
		t.Fatal("a possibly missed notice does not count as a change")
	}
	m2 := c.Mark()

	// A minute later a's notification is forgotten when the next one comes.
	c.mu.Lock()
	c.notified["a"] = notice{gen: c.notified["a"].gen, at: time.Now().Add(-2 * notifiedKeep)}
	c.prunedAt = time.Now().Add(-2 * notifiedKeep)
	c.mu.Unlock()
	c.wake("c")
	if _, kept := c.notified["a"]; kept {
		t.Fatal("an old notification was kept")
	}
	if !c.ChangedSince("a", m0) {
		t.Fatal("a forgotten notification after the mark must count as a change")
	}
	if c.ChangedSince("a", m2) || !c.ChangedSince("c", m2) {
		t.Fatalf("after pruning: a %v, c %v; want false, true", c.ChangedSince("a", m2), c.ChangedSince("c", m2))
	}
}
