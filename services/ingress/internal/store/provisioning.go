package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/names"
)

// Provisioning is a signup as the provisioning API shows it.
type Provisioning struct {
	CheckoutSessionID string
	SagaID            string
	Status            string
	InstanceURL       string
	APIKeyRef         string
	APIKeyRevealed    bool
	// APIKeyExpired is set once the sweeper deleted an unrevealed key.
	APIKeyExpired bool
	// RevealHash is the lowercase hex SHA-256 of the nonce that may reveal
	// the key; "" when the checkout bound none (nobody can reveal it).
	RevealHash string
	// ReadyAt is when the signup became ready (zero before).
	ReadyAt       time.Time
	FailureReason string
	// CustomerState is the customer's lifecycle state (active, past_due,
	// suspended, canceled, ...) once the saga has reported one, else "".
	CustomerState string
	// Steps lists each step (and each compensation) once, at its most
	// advanced status, in the order the steps began.
	Steps []StepState
}

// StepState is a step at its most advanced status.
type StepState struct {
	Name         string
	Compensation bool
	Status       string
	At           time.Time
}

// Lookup returns the signup of a checkout session, or ErrNotFound. The row
// and its steps are read by one statement, so from one snapshot: a step and
// the facts recorded with it are seen together. One statement, not a
// read-only transaction of two: a waiting client reads once per change of
// its signup, and the transaction's begin and commit were half of the
// ingress's statements in a burst.
func (s *Store) Lookup(ctx context.Context, checkoutSessionID string) (Provisioning, error) {
	var (
		p         Provisioning
		stepNames []string
		comps     []bool
		stats     []string
		ats       []time.Time
	)
	// The step arrays share one order, so their i-th elements are one row.
	err := s.db.QueryRow(ctx, `
		SELECT p.checkout_session_id, p.saga_id, p.status, p.instance_url, p.api_key_ref, p.api_key_revealed,
		       p.api_key_expired, p.reveal_hash, COALESCE(p.ready_at, 'epoch'::timestamptz),
		       p.failure_reason, COALESCE(c.state, ''),
		       s.names, s.comps, s.stats, s.ats
		FROM ingress.provisioning p
		LEFT JOIN ingress.customer_states c ON c.customer_id = p.customer_id AND p.customer_id <> ''
		CROSS JOIN LATERAL (
			SELECT array_agg(name ORDER BY seq, name, status) AS names,
			       array_agg(compensation ORDER BY seq, name, status) AS comps,
			       array_agg(status ORDER BY seq, name, status) AS stats,
			       array_agg(at ORDER BY seq, name, status) AS ats
			FROM ingress.provisioning_steps WHERE saga_id = p.saga_id) s
		WHERE p.checkout_session_id = $1`, checkoutSessionID).
		Scan(&p.CheckoutSessionID, &p.SagaID, &p.Status, &p.InstanceURL, &p.APIKeyRef, &p.APIKeyRevealed,
			&p.APIKeyExpired, &p.RevealHash, &p.ReadyAt, &p.FailureReason, &p.CustomerState,
			&stepNames, &comps, &stats, &ats)
	if err != nil {
		return Provisioning{}, notFound(err, "checkout "+names.CheckoutRef(checkoutSessionID))
	}
	if p.ReadyAt.Equal(time.Unix(0, 0)) {
		p.ReadyAt = time.Time{}
	}
	if len(comps) != len(stepNames) || len(stats) != len(stepNames) || len(ats) != len(stepNames) {
		return Provisioning{}, fmt.Errorf("steps of %s: arrays of %d, %d, %d and %d", p.SagaID, len(stepNames), len(comps), len(stats), len(ats))
	}
	states := make([]StepState, len(stepNames))
	for i := range stepNames {
		states[i] = StepState{Name: stepNames[i], Compensation: comps[i], Status: stats[i], At: ats[i]}
	}
	p.Steps = collapse(states)
	return p, nil
}

// rank orders step statuses: a later report of an earlier status (events
// arrive out of order) never hides a more advanced one.
var rank = map[string]int{StepStarted: 1, StepDone: 2, StepFailed: 3}

// collapse keeps one entry per (name, compensation), at its highest-ranked
// status, in the order of first appearance.
func collapse(states []StepState) []StepState {
	type key struct {
		name string
		comp bool
	}
	idx := map[key]int{}
	out := []StepState{}
	for _, st := range states {
		k := key{st.Name, st.Compensation}
		i, seen := idx[k]
		if !seen {
			idx[k] = len(out)
			out = append(out, st)
			continue
		}
		if rank[st.Status] > rank[out[i].Status] {
			out[i].Status, out[i].At = st.Status, st.At
		}
	}
	return out
}

// MarkRevealed records that the session's API key has been handed out (or
// is gone), so later reads say so without asking the secret store.
func (s *Store) MarkRevealed(ctx context.Context, checkoutSessionID string) error {
	_, err := s.db.Exec(ctx, `UPDATE ingress.provisioning SET api_key_revealed = true, updated_at = now()
		WHERE checkout_session_id = $1 AND NOT api_key_revealed`, checkoutSessionID)
	if err != nil {
		return fmt.Errorf("mark key of checkout %s revealed: %w", names.CheckoutRef(checkoutSessionID), err)
	}
	return nil
}

// notFound wraps err, as ErrNotFound when it is pgx.ErrNoRows, naming what
// was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
