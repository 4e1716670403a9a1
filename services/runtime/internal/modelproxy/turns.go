package modelproxy

import (
	"sync"

	"clawdbot.cloud/pkg/customerdb"
)

// Turns is the front door's turns in flight whose message is already
// reserved (customerdb.ReserveTurn): while such a turn runs, its
// reservation is lent to the proxy, and a model call that starts a turn
// takes a lent reservation instead of reserving a message of its own. So
// the front door's turn is counted once, by its reservation, and never
// seen twice by another reservation.
//
// Why lending rather than marking the calls: the gateway makes the calls,
// and anything it passes along (a header, an id in the body) it could also
// put on calls that are not the front door's. A lent reservation is made
// by the runtime alone and covers exactly one call that starts a turn, so
// whichever call takes it — the front door's own, or a cron job's at the
// same moment, which leaves the front door's to reserve its own message —
// the count stays one message per call that starts a turn.
//
// A nil *Turns lends nothing. It is safe for concurrent use.
type Turns struct {
	mu      sync.Mutex
	pending []*lent
}

// lent is one reservation lent by a front-door turn.
type lent struct {
	r customerdb.Reservation
	// open: the front-door turn has not ended yet. Guarded by Turns.mu.
	open bool
}

// Lend offers r, the reservation of a front-door turn, to the model calls
// of the proxy until giveBack is called when the turn's model work is
// over. giveBack reports whether r is still the turn's to settle or
// release: false means a model call took it, and that call settles it
// (its message and tokens counted, the reservation given up, in one
// transaction) or releases it; the turn then leaves it alone.
func (ts *Turns) Lend(r customerdb.Reservation) (giveBack func() (kept bool)) {
	if ts == nil {
		return func() bool { return true }
	}
	l := &lent{r: r, open: true}
	ts.mu.Lock()
	ts.pending = append(ts.pending, l)
	ts.mu.Unlock()
	return func() bool {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		l.open = false
		return ts.remove(l)
	}
}

// take returns the oldest lent reservation no call holds, or nil.
func (ts *Turns) take() *lent {
	if ts == nil {
		return nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.pending) == 0 {
		return nil
	}
	l := ts.pending[0]
	ts.pending = ts.pending[1:]
	return l
}

// giveBack returns l after its call failed before any output (a retry may
// take it again). It reports whether the front-door turn ended meanwhile:
// then nobody else will, so the caller must release l's reservation.
func (ts *Turns) giveBack(l *lent) (release bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !l.open {
		return true
	}
	ts.pending = append([]*lent{l}, ts.pending...)
	return false
}

// remove takes l out of the pending list; it reports whether it was there.
// ts.mu is held.
func (ts *Turns) remove(l *lent) bool {
	for i, p := range ts.pending {
		if p == l {
			ts.pending = append(ts.pending[:i], ts.pending[i+1:]...)
			return true
		}
	}
	return false
}

// lentCount is how many reservations wait for a call (tests).
func (ts *Turns) lentCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.pending)
}
