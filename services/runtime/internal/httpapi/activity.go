package httpapi

import "context"

// observerKey marks a request context as the platform observing the
// instance (GET /health, GET /status), not the instance doing work.
type observerKey struct{}

// observe marks ctx as the platform's observation.
func observe(ctx context.Context) context.Context { return context.WithValue(ctx, observerKey{}, true) }

// Observing reports whether ctx belongs to the platform observing the
// instance: its database use is not the instance's activity
// (Options.Activity).
func Observing(ctx context.Context) bool { return ctx.Value(observerKey{}) != nil }
