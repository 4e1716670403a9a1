// Package httpapi is the runtime's HTTP API: the routes customers and the
// platform's health prober call, with their middleware.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/auth"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// MaxBodyBytes bounds every request body. Chat requests (a later route) are
// the largest legitimate bodies; 1 MiB leaves them ample room.
const MaxBodyBytes = 1 << 20

// Store is the customer's database as the API uses it: *pgxpool.Pool.
type Store interface {
	customerdb.DB
	Ping(ctx context.Context) error
}

// Options are the dependencies of the API.
type Options struct {
	// CustomerID and Version describe the instance in /status.
	CustomerID, Version string
	// Plan is the customer's plan, the source of quotas.
	Plan plans.Plan
	// DB is the customer's own database.
	DB Store
	// Log receives access and error logs.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns the API's handler.
func New(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	requireKey := auth.Require(func(ctx context.Context, hash []byte) (bool, error) {
		return customerdb.CheckAPIKey(ctx, o.DB, hash)
	}, o.Log)

	mux := http.NewServeMux()
	mux.Handle("GET /health", health(o))
	mux.Handle("GET /status", requireKey(status(o)))
	// A path that exists but was called with another method gets a JSON 405
	// instead of the mux's plain-text one ("GET /x" is the more specific
	// pattern, so only other methods reach "/x").
	for _, path := range []string{"/health", "/status"} {
		mux.Handle(path, methodNotAllowed("GET, HEAD"))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		respond.Error(w, http.StatusNotFound, "not found")
	}))
	return accessLog(o.Log, limitBody(mux))
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		respond.Error(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}
