package httpapi

import (
	"context"
	"net/http"
	"time"

	"clawdbot.cloud/services/runtime/internal/observe"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// pingTimeout bounds the database check of /health, so a hung database makes
// the probe fail fast instead of timing the prober out.
const pingTimeout = 2 * time.Second

// healthBody is the body of GET /health.
type healthBody struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Activity is Options.Activity's token, on 200.
	Activity string `json:"activity,omitempty"`
}

// health answers GET /health without authentication: 200 {"status":"ok"}
// when the customer's database answers (DBCheck) and the engine is ready (on the
// openclaw engine: the gateway answers its /readyz), 503 otherwise. The
// platform's health service probes it, so an instance on the openclaw
// engine is reported ready only once its gateway is.
func health(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(observe.Mark(r.Context()), pingTimeout)
		defer cancel()
		check := o.DBCheck
		if check == nil {
			check = o.DB.Ping
		}
		if err := check(ctx); err != nil {
			o.Log.WarnContext(r.Context(), "health: database ping failed", "err", err)
			respond.JSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable", Error: "database unavailable"})
			return
		}
		if o.Ready != nil {
			if err := o.Ready(); err != nil {
				respond.JSON(w, http.StatusServiceUnavailable, healthBody{Status: "starting", Error: "engine not ready"})
				return
			}
		}
		body := healthBody{Status: "ok"}
		if o.Activity != nil {
			body.Activity = o.Activity()
		}
		respond.JSON(w, http.StatusOK, body)
	})
}
