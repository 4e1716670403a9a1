package store

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/names"
)

// Signup is what the webhook handler records for a checkout session before
// it publishes customer.signed_up.
type Signup struct {
	CheckoutSessionID string
	SagaID            string
	CustomerID        string
	Plan              string
	StripeEventID     string
	// RevealHash binds the key reveal to the starting browser: lowercase
	// hex SHA-256 of its nonce, or "" when the checkout bound none. The
	// first one recorded is kept.
	RevealHash string
}

// RecordSignup creates the session's provisioning row, or fills in the
// columns a projector-created row lacks. Repeating it changes nothing.
func (s *Store) RecordSignup(ctx context.Context, su Signup) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO ingress.provisioning AS p (checkout_session_id, saga_id, customer_id, plan, stripe_event_id, reveal_hash)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (checkout_session_id) DO UPDATE SET
			customer_id     = CASE WHEN p.customer_id = '' THEN excluded.customer_id ELSE p.customer_id END,
			plan            = CASE WHEN p.plan = '' THEN excluded.plan ELSE p.plan END,
			stripe_event_id = CASE WHEN p.stripe_event_id = '' THEN excluded.stripe_event_id ELSE p.stripe_event_id END,
			reveal_hash     = CASE WHEN p.reveal_hash = '' THEN excluded.reveal_hash ELSE p.reveal_hash END
		WHERE p.customer_id = '' OR p.plan = '' OR p.stripe_event_id = '' OR (p.reveal_hash = '' AND excluded.reveal_hash <> '')`,
		su.CheckoutSessionID, su.SagaID, su.CustomerID, su.Plan, su.StripeEventID, su.RevealHash)
	if err != nil {
		return fmt.Errorf("record signup of checkout %s: %w", names.CheckoutRef(su.CheckoutSessionID), err)
	}
	return nil
}

// Processed reports whether the Stripe event's domain event is already on
// the stream.
func (s *Store) Processed(ctx context.Context, eventID string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ingress.processed_events WHERE event_id = $1)`, eventID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("processed event %s: %w", eventID, err)
	}
	return ok, nil
}

// MarkProcessed records that the Stripe event's domain event is on the stream.
func (s *Store) MarkProcessed(ctx context.Context, eventID, eventType, sagaID string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO ingress.processed_events (event_id, event_type, saga_id)
		VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING`, eventID, eventType, sagaID)
	if err != nil {
		return fmt.Errorf("mark event %s processed: %w", eventID, err)
	}
	return nil
}

// RecordRejected records (or counts one more delivery of) an authentic event
// the platform refused, with why.
func (s *Store) RecordRejected(ctx context.Context, eventID, eventType, reason string) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO ingress.rejected_events AS r (event_id, event_type, reason) VALUES ($1, $2, $3)
		ON CONFLICT (event_id) DO UPDATE SET
			deliveries = r.deliveries + 1, last_seen = now(), reason = excluded.reason`,
		eventID, eventType, reason)
	if err != nil {
		return fmt.Errorf("record rejected event %s: %w", eventID, err)
	}
	return nil
}
