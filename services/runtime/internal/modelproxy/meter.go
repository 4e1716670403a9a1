package modelproxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/quota"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// QuotaError is a call refused because the plan's messages for the month
// are used up or reserved (a call that starts a turn) or its token budget
// is spent (any call).
type QuotaError struct {
	Status quota.Status
	// Tokens reports that the token budget, not the messages, ran out.
	Tokens bool
}

func (e *QuotaError) Error() string {
	if e.Tokens {
		return fmt.Sprintf("monthly token budget reached (%d of %d tokens); it resets on %s",
			e.Status.Tokens(), e.Status.TokenLimit, e.Status.ResetAt.Format(time.DateOnly))
	}
	return fmt.Sprintf("monthly message quota reached (%d of %d); it resets on %s",
		e.Status.Used.Messages, e.Status.Limit, e.Status.ResetAt.Format(time.DateOnly))
}

// DBMeter is the customer's quota and usage records in their database: the
// usage_tracking rows and quota reservations the front door's quota
// (package quota), /status, /api/usage and the dashboard read.
//
// A message is one turn: the model call that answers a new message of the
// user's counts it, the calls that answer tool results within the same turn
// count their tokens only. A call that starts a turn reserves its message
// before it is forwarded, exactly as the front door's turns do
// (quota.Reserve, customerdb.ReserveTurn: under the customer database's
// quota lock, turns in flight counted), so concurrent calls at the last
// message let exactly one through; the reservation becomes the counted
// message when the provider answers, or is given up when it does not (a
// retry after such a failure is then counted once). A front-door turn's
// own reservation is lent to the proxy while it runs (Turns), and its
// turn-starting call takes it rather than reserving a second message. The
// token budget refuses any call once it is spent.
type DBMeter struct {
	// DB is the customer's database.
	DB customerdb.TxBeginner
	// Plan is the configured plan; the one the workspace service recorded
	// since wins (skills.CurrentPlan).
	Plan plans.Plan
	// Turns is the front door's reserved turns in flight (nil: none).
	Turns *Turns
	// Now is the clock.
	Now func() time.Time
}

// Begin implements Meter.
func (m *DBMeter) Begin(ctx context.Context, startsTurn bool) (Admission, error) {
	plan, err := skills.CurrentPlan(ctx, m.DB, m.Plan)
	if err != nil {
		return nil, err
	}
	if !startsTurn {
		if err := m.checkTokens(ctx, plan); err != nil {
			return nil, err
		}
		return &admission{m: m}, nil
	}
	if l := m.Turns.take(); l != nil {
		// The front door reserved this turn's message; only the token
		// budget is left to check.
		if err := m.checkTokens(ctx, plan); err != nil {
			if rerr := (&admission{m: m, r: l.r, lent: l}).Failed(ctx); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
			return nil, err
		}
		return &admission{m: m, r: l.r, lent: l}, nil
	}
	r, st, err := quota.Reserve(ctx, m.DB, plan, m.Now())
	switch {
	case errors.Is(err, customerdb.ErrMessagesSpent):
		return nil, &QuotaError{Status: st}
	case errors.Is(err, customerdb.ErrTokensSpent):
		return nil, &QuotaError{Status: st, Tokens: true}
	case err != nil:
		return nil, err
	}
	return &admission{m: m, r: r, reserved: true}, nil
}

// checkTokens refuses when the period's token budget is spent.
func (m *DBMeter) checkTokens(ctx context.Context, plan plans.Plan) error {
	st, err := quota.Read(ctx, m.DB, plan, m.Now())
	if err != nil {
		return err
	}
	if st.TokensExceeded() {
		return &QuotaError{Status: st, Tokens: true}
	}
	return nil
}

// admission is one call let through by DBMeter: a call within a turn
// (nothing held), a call that starts a turn with its own reservation, or
// one that took a front-door turn's lent reservation.
type admission struct {
	m        *DBMeter
	r        customerdb.Reservation
	reserved bool  // r is this call's own
	lent     *lent // r is lent by a front-door turn
}

// Answered implements Admission: the call's tokens on today's (UTC) usage;
// for a call that starts a turn, its message and tokens on the day of its
// reservation, the reservation given up in the same transaction.
func (a *admission) Answered(ctx context.Context, u Usage) error {
	t := customerdb.UsageTotals{InputTokens: u.Input, OutputTokens: u.Output}
	if a.reserved || a.lent != nil {
		t.Messages = 1
		// ReleaseTurn gives the reservation up and counts t: the
		// reserved message becomes a counted one at once.
		return customerdb.ReleaseTurn(ctx, a.m.DB, a.r, t)
	}
	if t == (customerdb.UsageTotals{}) {
		return nil
	}
	return customerdb.AddUsage(ctx, a.m.DB, a.m.Now(), t)
}

// Failed implements Admission: the call's own reservation is given up; a
// lent one goes back to its front-door turn (or, if that turn is over, is
// given up here).
func (a *admission) Failed(ctx context.Context) error {
	switch {
	case a.lent != nil:
		if !a.m.Turns.giveBack(a.lent) {
			return nil
		}
	case !a.reserved:
		return nil
	}
	return customerdb.ReleaseTurn(ctx, a.m.DB, a.r, customerdb.UsageTotals{})
}
