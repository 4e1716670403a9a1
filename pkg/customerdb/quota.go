package customerdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Why an advisory lock rather than a counter row with a conditional UPDATE:
// usage_tracking's daily rows stay the one record of what was consumed (the
// dashboard's chart, /api/usage and /status read them, and the platform's
// own writers add to them), so there is no second counter to keep in step
// or to seed when a period starts. The lock orders reservations of one
// customer database only, for the few milliseconds of two statements, and a
// database belongs to one customer whose turns are rarely concurrent.
// Settling needs no lock: it gives up the reservation and adds the usage in
// one transaction, so a reservation's snapshot sees the turn either as
// reserved or as used, never as neither.

// quotaLockKey is the advisory lock taken by ReserveTurn (4242001 is
// CreateAPIKey's).
const quotaLockKey = 4242002

// reservationTTL is how long a reservation counts without being settled: a
// runtime that died mid-turn never settles, and its reservation must not
// hold a message forever. It exceeds the longest turn (30 minutes) and the
// storing of its reply.
const reservationTTL = time.Hour

// Errors of ReserveTurn when the period has nothing left.
var (
	// ErrMessagesSpent means the period's messages are all used or reserved.
	ErrMessagesSpent = errors.New("monthly message quota reached")
	// ErrTokensSpent means the period's token budget is used up.
	ErrTokensSpent = errors.New("monthly token budget reached")
)

// TurnLimits is what a quota period allows; 0 or less means unlimited.
type TurnLimits struct {
	// Messages is the period's message allowance.
	Messages int64
	// Tokens is the period's budget of input plus output tokens.
	Tokens int64
}

// QuotaUse is a period's usage as a reservation saw it.
type QuotaUse struct {
	UsageTotals
	// Reserved is the turns in flight (reserved, not yet settled).
	Reserved int64
}

// Reservation is one turn's claim on a message of its quota period. The
// zero Reservation holds nothing: settling or releasing it gives nothing up
// and only stores or counts (a turn whose reservation was taken over by
// the model proxy, which settles it itself).
type Reservation struct {
	// ID is the reservation's row.
	ID int64
	// At is when the turn began; its usage is recorded on this UTC day, so
	// it stays in the period it was reserved against.
	At time.Time
}

// ReserveTurn reserves one message of the period [from, to) for a turn
// beginning at, unless the period's settled and reserved messages reach
// lim.Messages (ErrMessagesSpent) or its settled tokens reach lim.Tokens
// (ErrTokensSpent). Either way it returns the usage it saw.
//
// Tokens are known only when a turn ends, so the token check counts settled
// turns only: turns in flight when the budget is reached may finish past it.
func ReserveTurn(ctx context.Context, db TxBeginner, at, from, to time.Time, lim TurnLimits) (Reservation, QuotaUse, error) {
	var use QuotaUse
	r := Reservation{At: at}
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, quotaLockKey); err != nil {
			return err
		}
		// One statement after the lock: one snapshot, taken once every
		// earlier reservation and settlement has committed.
		const q = `
SELECT coalesce(sum(messages), 0)::bigint, coalesce(sum(input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint,
       (SELECT count(*) FROM quota_reservations
        WHERE period = $1::date AND created_at > now() - make_interval(secs => $3))
FROM usage_tracking WHERE day >= $1::date AND day < $2::date`
		if err := tx.QueryRow(ctx, q, day(from), day(to), reservationTTL.Seconds()).
			Scan(&use.Messages, &use.InputTokens, &use.OutputTokens, &use.Reserved); err != nil {
			return err
		}
		switch {
		case lim.Messages > 0 && use.Messages+use.Reserved >= lim.Messages:
			return ErrMessagesSpent
		case lim.Tokens > 0 && use.InputTokens+use.OutputTokens >= lim.Tokens:
			return ErrTokensSpent
		}
		if _, err := tx.Exec(ctx, `DELETE FROM quota_reservations WHERE created_at <= now() - make_interval(secs => $1)`,
			reservationTTL.Seconds()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO quota_reservations (period) VALUES ($1::date) RETURNING id`, day(from)).Scan(&r.ID)
	})
	switch {
	case errors.Is(err, ErrMessagesSpent), errors.Is(err, ErrTokensSpent):
		return Reservation{}, use, err
	case err != nil:
		return Reservation{}, use, fmt.Errorf("reserve turn: %w", err)
	}
	return r, use, nil
}

// SettleTurn stores the reply m of the turn that holds r and counts it (one
// message and m's tokens, on r's day), giving r up, in one transaction. A
// conversation deleted meanwhile yields ErrNotFound and changes nothing:
// the caller then releases r (ReleaseTurn) with the tokens.
func SettleTurn(ctx context.Context, db TxBeginner, r Reservation, m Message) (Message, error) {
	var out Message
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM quota_reservations WHERE id = $1`, r.ID); err != nil {
			return fmt.Errorf("settle turn: %w", err)
		}
		var err error
		out, err = RecordReply(ctx, tx, m, r.At)
		return err
	})
	return out, err
}

// SettleMeteredTurn stores the reply m of the turn that holds r and gives
// r up, in one transaction, without counting anything: the turn's usage was
// counted where its model calls were made (the openclaw engine's metering
// model proxy). m's tokens are stored with the message, for the record.
// A conversation deleted meanwhile yields ErrNotFound and changes nothing.
func SettleMeteredTurn(ctx context.Context, db TxBeginner, r Reservation, m Message) (Message, error) {
	var out Message
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM quota_reservations WHERE id = $1`, r.ID); err != nil {
			return fmt.Errorf("settle turn: %w", err)
		}
		m.Role = RoleAssistant
		var err error
		out, err = AddMessage(ctx, tx, m)
		return err
	})
	return out, err
}

// ReleaseTurn gives r up and counts u in one transaction: for a turn that
// failed before a reply was stored, u is the tokens of the model calls that
// did answer (they were paid for) and no message; for the openclaw
// engine's model proxy, u is an answered call's message and tokens, so the
// reserved message becomes a counted one at once (and nothing when the
// call failed).
func ReleaseTurn(ctx context.Context, db TxBeginner, r Reservation, u UsageTotals) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM quota_reservations WHERE id = $1`, r.ID); err != nil {
			return err
		}
		if u == (UsageTotals{}) {
			return nil
		}
		return AddUsage(ctx, tx, r.At, u)
	})
	if err != nil {
		return fmt.Errorf("release turn: %w", err)
	}
	return nil
}
