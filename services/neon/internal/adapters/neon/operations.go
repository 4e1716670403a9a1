package neon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// wait polls ops of project until each has finished (or was skipped). A failed or
// errored operation ends the wait with app.ErrRejected: Neon tried and gave
// up, and the saga compensates. A cancelled one, or operations still running
// after Timing.OperationTimeout, end it with a retryable error.
//
// Neon runs a project's operations one after the other, so a round of polls
// stops at the first operation still running: the later ones cannot be
// further along.
func (d *Driver) wait(ctx context.Context, project, what string, ops []neonapi.Operation) error {
	var pending []neonapi.Operation
	for _, op := range ops {
		if done, err := settled(what, op); err != nil {
			return err
		} else if !done {
			pending = append(pending, op)
		}
	}
	interval := d.timing.PollFirst
	var waited time.Duration
	for len(pending) > 0 {
		if waited >= d.timing.OperationTimeout {
			return fmt.Errorf("%s: operation %s (%s) still %s after %v", what, pending[0].Id, pending[0].Action, pending[0].Status, waited)
		}
		if err := d.timing.Sleep(ctx, interval); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		waited += interval
		interval = min(interval*3/2, d.timing.PollMax)
		for len(pending) > 0 {
			r, err := d.api.GetProjectOperationWithResponse(ctx, project, pending[0].Id)
			if err := answer("get operation", r, err); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if r.JSON200 == nil {
				return errMalformed("get operation")
			}
			op := r.JSON200.Operation
			done, err := settled(what, op)
			if err != nil {
				return err
			}
			if !done {
				pending[0] = op
				break
			}
			pending = pending[1:]
		}
	}
	return nil
}

// settled reports whether op has ended well, or why it ended badly.
func settled(what string, op neonapi.Operation) (bool, error) {
	switch op.Status {
	case neonapi.OperationStatusFinished, neonapi.OperationStatusSkipped:
		return true, nil
	case neonapi.OperationStatusFailed, neonapi.OperationStatusError:
		reason := ""
		if op.Error != nil {
			reason = ": " + *op.Error
		}
		return false, fmt.Errorf("%w: %s: operation %s (%s) %s%s", app.ErrRejected, what, op.Id, op.Action, op.Status, reason)
	case neonapi.OperationStatusCancelled, neonapi.OperationStatusCancelling:
		return false, fmt.Errorf("%s: operation %s (%s) was cancelled", what, op.Id, op.Action)
	}
	return false, nil // scheduling, running, or a status newer than this build
}

// keyedMutex serialises the driver's work on one customer within the
// process: concurrent deliveries of one command must not both create a
// branch or both reset a password. Across replicas JetStream delivers a
// command to one consumer at a time.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes the lock named key, waiting for it, and returns its release.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
