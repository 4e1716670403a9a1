package httpapi

import (
	"log/slog"
	"net/http"

	"clawdbot.cloud/services/runtime/internal/auth"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// controlUI admits only the platform's web app to the OpenClaw Control UI:
// a request with a dashboard token, which the web app mints for its
// signed-in customer after checking the browser's session and origin. An
// API key is refused: the Control UI runs the gateway as its owner, and a
// key handed to a script or a third party must not open it. Not rate
// limited per key: one page load fetches dozens of assets, and the gateway
// limits its own callers.
func controlUI(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth.Identity(r.Context()) != auth.DashboardIdentity {
			log.InfoContext(r.Context(), "refused the control ui to a non-dashboard caller")
			respond.Error(w, http.StatusForbidden, "the OpenClaw Control UI opens only from the platform's web app, signed in")
			return
		}
		next.ServeHTTP(w, r)
	})
}
