package customerdb

import (
	"context"
	"fmt"
	"time"
)

// UsageTotals is what a customer consumed over a period. (It is not called
// Usage because the function reading it is.)
type UsageTotals struct {
	// Messages is the number of chat messages answered.
	Messages int64
	// InputTokens is the number of model input (prompt) tokens.
	InputTokens int64
	// OutputTokens is the number of model output (completion) tokens.
	OutputTokens int64
}

// day formats t as the UTC calendar day usage is recorded under.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// AddUsage adds u to the usage of the UTC day containing at.
func AddUsage(ctx context.Context, db DB, at time.Time, u UsageTotals) error {
	const q = `
INSERT INTO usage_tracking (day, messages, input_tokens, output_tokens)
VALUES ($1::date, $2, $3, $4)
ON CONFLICT (day) DO UPDATE SET
    messages      = usage_tracking.messages      + excluded.messages,
    input_tokens  = usage_tracking.input_tokens  + excluded.input_tokens,
    output_tokens = usage_tracking.output_tokens + excluded.output_tokens`
	if _, err := db.Exec(ctx, q, day(at), u.Messages, u.InputTokens, u.OutputTokens); err != nil {
		return fmt.Errorf("add usage: %w", err)
	}
	return nil
}

// Usage returns the usage summed over the UTC days from the day containing
// from up to, but not including, the day containing to. For a billing month,
// pass its first instant and the first instant of the next month.
func Usage(ctx context.Context, db DB, from, to time.Time) (UsageTotals, error) {
	const q = `
SELECT coalesce(sum(messages), 0)::bigint,
       coalesce(sum(input_tokens), 0)::bigint,
       coalesce(sum(output_tokens), 0)::bigint
FROM usage_tracking WHERE day >= $1::date AND day < $2::date`
	var u UsageTotals
	if err := db.QueryRow(ctx, q, day(from), day(to)).Scan(&u.Messages, &u.InputTokens, &u.OutputTokens); err != nil {
		return UsageTotals{}, fmt.Errorf("read usage %s..%s: %w", day(from), day(to), err)
	}
	return u, nil
}

// DayUsage is the usage of one UTC day.
type DayUsage struct {
	// Day is the UTC date, midnight.
	Day time.Time
	UsageTotals
}

// DailyUsage returns the days from the day containing from up to, but not
// including, the day containing to that have any usage, in date order.
func DailyUsage(ctx context.Context, db DB, from, to time.Time) ([]DayUsage, error) {
	rows, err := db.Query(ctx, `SELECT day, messages, input_tokens, output_tokens FROM usage_tracking
		WHERE day >= $1::date AND day < $2::date ORDER BY day`, day(from), day(to))
	if err != nil {
		return nil, fmt.Errorf("read daily usage %s..%s: %w", day(from), day(to), err)
	}
	defer rows.Close()
	var out []DayUsage
	for rows.Next() {
		var d DayUsage
		if err := rows.Scan(&d.Day, &d.Messages, &d.InputTokens, &d.OutputTokens); err != nil {
			return nil, fmt.Errorf("read daily usage: %w", err)
		}
		d.Day = time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), 0, 0, 0, 0, time.UTC)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read daily usage: %w", err)
	}
	return out, nil
}
