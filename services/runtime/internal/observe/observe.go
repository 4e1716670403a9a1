// Package observe marks a context whose database work is not the
// instance's activity: the platform observing the instance (GET /health,
// GET /status) and the instance's own housekeeping (closing idle
// connections, reading its channel's settings at start). The runtime's
// activity token (/health's "activity") counts every other use of the
// database, and the health service re-reads /status — a backend — only
// when it moved.
package observe

import "context"

type key struct{}

// Mark marks ctx as observation or housekeeping.
func Mark(ctx context.Context) context.Context { return context.WithValue(ctx, key{}, true) }

// Marked reports whether ctx was marked.
func Marked(ctx context.Context) bool { return ctx.Value(key{}) != nil }
