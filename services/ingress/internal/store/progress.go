package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Progress is one fact the projector learned about a signup saga. Empty
// fields leave the row as it is, so events may arrive in any order and any
// number of times.
type Progress struct {
	CheckoutSessionID string
	SagaID            string
	CustomerID        string
	// Status is "" (no change), StatusReady or StatusFailed. The first final
	// status wins; a signup never goes back to provisioning.
	Status string
	// InstanceURL is kept once known; the saga's completion overrides it.
	InstanceURL string
	// APIKeyRef is kept from its first report.
	APIKeyRef string
	// FailureReason is recorded with the report that fails the signup;
	// later reasons, and any after it is ready, are dropped.
	FailureReason string
	// Step, when set, is recorded in the step list.
	Step *Step
}

// Step is one state of one saga step.
type Step struct {
	Name string
	// Compensation marks the undoing of the step after a failure.
	Compensation bool
	// Status is StepStarted, StepDone or StepFailed.
	Status string
	// Seq is the stream sequence of the event that reported it.
	Seq uint64
	At  time.Time
}

// Apply records p. Applying the same Progress again changes nothing.
func (s *Store) Apply(ctx context.Context, p Progress) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO ingress.provisioning AS p
				(checkout_session_id, saga_id, customer_id, status, instance_url, api_key_ref, failure_reason)
			VALUES ($1, $2, $3, COALESCE(NULLIF($4::text, ''), 'provisioning'), $5, $6, $7)
			ON CONFLICT (checkout_session_id) DO UPDATE SET
				customer_id    = CASE WHEN p.customer_id = '' THEN excluded.customer_id ELSE p.customer_id END,
				status         = CASE WHEN p.status = 'provisioning' THEN excluded.status ELSE p.status END,
				instance_url   = CASE WHEN excluded.instance_url <> '' AND (p.instance_url = '' OR $4::text = 'ready')
				                      THEN excluded.instance_url ELSE p.instance_url END,
				api_key_ref    = CASE WHEN p.api_key_ref = '' THEN excluded.api_key_ref ELSE p.api_key_ref END,
				failure_reason = CASE WHEN p.status = 'provisioning' AND p.failure_reason = ''
				                      THEN excluded.failure_reason ELSE p.failure_reason END,
				updated_at     = now()`,
			p.CheckoutSessionID, p.SagaID, p.CustomerID, p.Status, p.InstanceURL, p.APIKeyRef, p.FailureReason)
		if err != nil || p.Step == nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO ingress.provisioning_steps (saga_id, name, compensation, status, seq, at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (saga_id, name, compensation, status) DO NOTHING`,
			p.SagaID, p.Step.Name, p.Step.Compensation, p.Step.Status, int64(p.Step.Seq), p.Step.At)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply progress of %s: %w", p.SagaID, err)
	}
	return nil
}
