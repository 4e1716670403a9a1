// Package quota reads a customer's usage for the current quota period and
// compares it with their plan's monthly message allowance and token budget,
// and reserves a chat turn's message against them (customerdb.ReserveTurn).
package quota

import (
	"context"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// Period returns the quota period containing t: the calendar month in UTC.
// (Quotas follow the calendar month for now, not the Stripe billing cycle.)
func Period(t time.Time) (start, end time.Time) {
	t = t.UTC()
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// Status is the usage of one period against the plan.
type Status struct {
	// Used is the period's usage so far.
	Used customerdb.UsageTotals
	// Limit is the plan's monthly message allowance; 0 or less means
	// unlimited.
	Limit int64
	// TokenLimit is the plan's monthly token budget (input plus output);
	// 0 or less means unlimited.
	TokenLimit int64
	// Start is the first instant of the period (UTC).
	Start time.Time
	// ResetAt is when the period ends and usage starts again from zero.
	ResetAt time.Time
}

// Exceeded reports whether chat turns are refused until ResetAt: no message
// is left this period, or the token budget is spent.
func (s Status) Exceeded() bool {
	return (s.Limit > 0 && s.Used.Messages >= s.Limit) || s.TokensExceeded()
}

// TokensExceeded reports whether the period's token budget is spent.
func (s Status) TokensExceeded() bool { return s.TokenLimit > 0 && s.Tokens() >= s.TokenLimit }

// Tokens is the period's input and output tokens so far.
func (s Status) Tokens() int64 { return s.Used.InputTokens + s.Used.OutputTokens }

// TokensRemaining is the tokens left this period (0 when spent; -1 when
// unlimited).
func (s Status) TokensRemaining() int64 {
	if s.TokenLimit <= 0 {
		return -1
	}
	return max(0, s.TokenLimit-s.Tokens())
}

// Remaining is the number of messages left this period (0 when exceeded;
// -1 when unlimited).
func (s Status) Remaining() int64 {
	if s.Limit <= 0 {
		return -1
	}
	return max(0, s.Limit-s.Used.Messages)
}

// Read returns the status of the period containing now.
func Read(ctx context.Context, db customerdb.DB, plan plans.Plan, now time.Time) (Status, error) {
	start, end := Period(now)
	u, err := customerdb.Usage(ctx, db, start, end)
	if err != nil {
		return Status{}, err
	}
	return Status{Used: u, Limit: plan.MonthlyMessages, TokenLimit: plan.MonthlyTokens, Start: start, ResetAt: end}, nil
}

// Reserve reserves one message of the period containing now for a chat
// turn (see customerdb.ReserveTurn), or fails with customerdb's
// ErrMessagesSpent or ErrTokensSpent. The Status is what the reservation
// saw, turns in flight counted as used messages.
func Reserve(ctx context.Context, db customerdb.TxBeginner, plan plans.Plan, now time.Time) (customerdb.Reservation, Status, error) {
	start, end := Period(now)
	r, use, err := customerdb.ReserveTurn(ctx, db, now, start, end,
		customerdb.TurnLimits{Messages: plan.MonthlyMessages, Tokens: plan.MonthlyTokens})
	use.Messages += use.Reserved
	return r, Status{Used: use.UsageTotals, Limit: plan.MonthlyMessages, TokenLimit: plan.MonthlyTokens, Start: start, ResetAt: end}, err
}
