// Package quota reads a customer's usage for the current quota period and
// compares it with their plan's monthly message allowance.
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
	// Start is the first instant of the period (UTC).
	Start time.Time
	// ResetAt is when the period ends and usage starts again from zero.
	ResetAt time.Time
}

// Exceeded reports whether no message is left this period.
func (s Status) Exceeded() bool { return s.Limit > 0 && s.Used.Messages >= s.Limit }

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
	return Status{Used: u, Limit: plan.MonthlyMessages, Start: start, ResetAt: end}, nil
}
