package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Progress is one fact the projector learned about a signup saga. Empty
// fields leave the row as it is, so events may arrive in any order and any
// number of times.
type Progress struct {
	// CheckoutSessionID, when known (the saga's final events carry it),
	// creates the row if the webhook has not; "" finds the row by SagaID and
	// records only the step if there is none.
	CheckoutSessionID string
	SagaID            string
	CustomerID        string
	// Status is "" (no change), StatusReady or StatusFailed. The first final
	// status wins; a signup never goes back to provisioning.
	Status string
	// At is when the projector learned the fact: ready_at of a signup that
	// becomes ready with it.
	At time.Time
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

// progressSet is the assignments both statements of Apply share: each
// column of the row p changes only as the rules of Progress allow. $4 is
// the status, $5 the instance URL, $6 the key reference, $7 the failure
// reason, $8 the time; n.customer_id is the new customer id.
const progressSet = `
	customer_id    = CASE WHEN p.customer_id = '' THEN n.customer_id ELSE p.customer_id END,
	status         = CASE WHEN p.status = 'provisioning' AND $4::text <> '' THEN $4::text ELSE p.status END,
	ready_at       = CASE WHEN p.status = 'provisioning' AND $4::text = 'ready' THEN $8::timestamptz ELSE p.ready_at END,
	instance_url   = CASE WHEN $5::text <> '' AND (p.instance_url = '' OR $4::text = 'ready')
	                      THEN $5::text ELSE p.instance_url END,
	api_key_ref    = CASE WHEN p.api_key_ref = '' THEN $6::text ELSE p.api_key_ref END,
	failure_reason = CASE WHEN p.status = 'provisioning' AND p.failure_reason = ''
	                      THEN $7::text ELSE p.failure_reason END,
	updated_at     = now()`

// Apply records p in one statement: the row and the step commit together,
// and a signup's dozen reports cost a dozen statements, not five times as
// many (a transaction's begin, row, step and commit were each a round
// trip). Applying the same Progress again changes nothing. The caller tells
// the waiting reads (package changes) once it returns.
func (s *Store) Apply(ctx context.Context, p Progress) error {
	at := p.At
	if at.IsZero() {
		at = time.Now()
	}
	// $9.. are the step's, inserted when $14 says there is one.
	var step Step
	if p.Step != nil {
		step = *p.Step
	}
	var row string
	if p.CheckoutSessionID != "" {
		row = `
			INSERT INTO ingress.provisioning AS p
				(checkout_session_id, saga_id, customer_id, status, ready_at, instance_url, api_key_ref, failure_reason)
			VALUES ($1, $2, $3, COALESCE(NULLIF($4::text, ''), 'provisioning'),
			        CASE WHEN $4::text = 'ready' THEN $8::timestamptz END, $5, $6, $7)
			ON CONFLICT (checkout_session_id) DO UPDATE SET` +
			strings.ReplaceAll(progressSet, "n.customer_id", "excluded.customer_id")
	} else {
		// No row yet (a replay into a fresh read model): the step is kept
		// below, and the saga's final event, which names the session,
		// creates the row. A report of a step alone leaves a row that has
		// its customer as it is: most of a signup's reports are steps, and
		// rewriting the row for each (a new version, its WAL, a dead tuple)
		// cost about twice the rest of the statement (pgbench: 0.34 against
		// 0.12 ms).
		row = `
			UPDATE ingress.provisioning AS p SET` +
			strings.ReplaceAll(progressSet, "n.customer_id", "$3::text") + `
			WHERE saga_id = $2 AND $1::text = ''
			  AND (p.customer_id = '' OR $4::text <> '' OR $5::text <> '' OR $6::text <> '' OR $7::text <> '')`
	}
	// Data-modifying WITH queries run whether or not the main query reads
	// them.
	_, err := s.db.Exec(ctx, `
		WITH progress AS (`+row+`),
		step AS (
			INSERT INTO ingress.provisioning_steps (saga_id, name, compensation, status, seq, at)
			SELECT $2, $9, $10, $11, $12, $13 WHERE $14::bool
			ON CONFLICT (saga_id, name, compensation, status) DO NOTHING)
		SELECT`,
		p.CheckoutSessionID, p.SagaID, p.CustomerID, p.Status, p.InstanceURL, p.APIKeyRef, p.FailureReason, at,
		step.Name, step.Compensation, step.Status, int64(step.Seq), step.At, p.Step != nil)
	if err != nil {
		return fmt.Errorf("apply progress of %s: %w", p.SagaID, err)
	}
	return nil
}
