package modelproxy

import (
	"context"
	"fmt"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/quota"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// QuotaError is a call refused because the plan's messages for the month
// are used up (a call that starts a turn) or its token budget is spent
// (any call).
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
// usage_tracking rows the front door's quota (package quota), /status,
// /api/usage and the dashboard read.
//
// A message is one turn: the model call that answers a new message of the
// user's counts it, the calls that answer tool results within the same turn
// count their tokens only. So a turn that ran out of messages is refused
// before its first model call, and a turn under way is not cut off by its
// own message; the token budget refuses any call once it is spent. Turns
// reserved by the front door (customerdb.ReserveTurn) are not counted here:
// the call of such a turn must not be refused by its own reservation.
type DBMeter struct {
	// DB is the customer's database.
	DB customerdb.DB
	// Plan is the configured plan; the one the workspace service recorded
	// since wins (skills.CurrentPlan).
	Plan plans.Plan
	// Now is the clock.
	Now func() time.Time
}

// Check implements Meter.
func (m *DBMeter) Check(ctx context.Context, startsTurn bool) error {
	plan, err := skills.CurrentPlan(ctx, m.DB, m.Plan)
	if err != nil {
		return err
	}
	st, err := quota.Read(ctx, m.DB, plan, m.Now())
	if err != nil {
		return err
	}
	switch {
	case st.TokensExceeded():
		return &QuotaError{Status: st, Tokens: true}
	case startsTurn && st.Limit > 0 && st.Used.Messages >= st.Limit:
		return &QuotaError{Status: st}
	}
	return nil
}

// Record implements Meter: the call's tokens, and a message when it
// started a turn, on today's (UTC) usage.
func (m *DBMeter) Record(ctx context.Context, u Usage, startsTurn bool) error {
	t := customerdb.UsageTotals{InputTokens: u.Input, OutputTokens: u.Output}
	if startsTurn {
		t.Messages = 1
	}
	if t == (customerdb.UsageTotals{}) {
		return nil
	}
	return customerdb.AddUsage(ctx, m.DB, m.Now(), t)
}
