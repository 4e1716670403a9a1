package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// statusRefreshTimeout bounds the /status read after a delivery.
const statusRefreshTimeout = 5 * time.Second

// PlatformWorkspacePath is where the workspace service delivers a signup's
// workspace (PUT, the instance token only).
const PlatformWorkspacePath = "/platform/workspace"

// deliverWorkspace answers PUT /platform/workspace: the workspace service
// hands over a signup's rendered workspace and the hash of its first API key
// (a customerdb.Delivery), and the instance writes it through the database
// connection it opened at start, so a new customer's database serves one
// backend during the signup instead of two. 204 once applied (a replay
// changes nothing), 400 for a body that is not a valid delivery, 503 when
// the database cannot be written (the workspace service then writes it
// itself).
func deliverWorkspace(o Options, cache *statusCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d customerdb.Delivery
		if !decode(w, r, &d) {
			return
		}
		if err := d.Validate(); err != nil {
			respond.Error(w, http.StatusBadRequest, err.Error())
			return
		}
		err := customerdb.Deliver(r.Context(), o.DB, d)
		switch {
		case errors.Is(err, customerdb.ErrInvalidDelivery):
			respond.Error(w, http.StatusBadRequest, err.Error())
			return
		case err != nil:
			o.Log.ErrorContext(r.Context(), "deliver workspace", "err", err)
			respond.Error(w, http.StatusServiceUnavailable, "cannot write the workspace now, try again")
			return
		}
		o.Log.InfoContext(r.Context(), "workspace delivered", "files", len(d.Files), "api_key_prefix", d.APIKey.Prefix)
		w.WriteHeader(http.StatusNoContent)
		// A signup's last use of the database: /status read now, on the
		// connection the delivery just released, answers the health
		// service's first read of the instance (statusCache). Answered
		// first, so a slow read neither delays the delivery nor makes the
		// workspace service give up on it; the client may be gone by then.
		_ = http.NewResponseController(w).Flush()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), statusRefreshTimeout)
		defer cancel()
		cache.refresh(ctx, o)
	})
}
