package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/google"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// GoogleAccount is the instance's side of the Google connection
// (*google.Client).
type GoogleAccount interface {
	Connect(ctx context.Context, t google.Tokens) (google.Status, error)
	Status(ctx context.Context) (google.Status, error)
	Disconnect(ctx context.Context) (connected, revoked bool, err error)
}

// GoogleDisconnected is the answer to DELETE /api/google.
type GoogleDisconnected struct {
	// WasConnected reports whether an account was connected.
	WasConnected bool `json:"was_connected"`
	// Revoked reports whether Google confirmed the grant's revocation.
	Revoked bool `json:"revoked"`
}

// googleGate answers 503 when the platform has no Google client and 403
// when the plan has neither Gmail nor Calendar; it reports whether to go on.
func googleGate(w http.ResponseWriter, r *http.Request, o Options) bool {
	if o.Google == nil {
		respond.Error(w, http.StatusServiceUnavailable, "Google is not configured on this platform (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET)")
		return false
	}
	plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
	if err != nil {
		internalError(w, o, "read plan", err)
		return false
	}
	if !slices.Contains(plan.Skills, plans.SkillGmail) && !slices.Contains(plan.Skills, plans.SkillCalendar) {
		respond.Error(w, http.StatusForbidden, "Gmail and Calendar need the Pro or Team plan")
		return false
	}
	return true
}

// getGoogle answers GET /api/google: the connection, never a token.
func getGoogle(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !googleGate(w, r, o) {
			return
		}
		st, err := o.Google.Status(r.Context())
		if err != nil {
			internalError(w, o, "google status", err)
			return
		}
		respond.JSON(w, http.StatusOK, st)
	})
}

// putGoogle answers PUT /api/google {"access_token", "refresh_token",
// "expires_in", "scope"} (Google's token answer, forwarded by the web app
// after the consent) with the connection: 422 when Google refuses the tokens.
func putGoogle(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !googleGate(w, r, o) {
			return
		}
		var t google.Tokens
		if !decode(w, r, &t) {
			return
		}
		st, err := o.Google.Connect(r.Context(), t)
		if errors.Is(err, google.ErrBadTokens) {
			respond.Error(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		if err != nil {
			internalError(w, o, "connect google", err)
			return
		}
		o.Log.Info("google connected", "scopes", len(st.Scopes))
		respond.JSON(w, http.StatusOK, st)
	})
}

// deleteGoogle answers DELETE /api/google: the grant is revoked at Google
// and the tokens deleted. Allowed whatever the plan (a downgraded customer
// may still disconnect).
func deleteGoogle(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Google == nil {
			respond.Error(w, http.StatusServiceUnavailable, "Google is not configured on this platform")
			return
		}
		was, revoked, err := o.Google.Disconnect(r.Context())
		if err != nil {
			internalError(w, o, "disconnect google", err)
			return
		}
		if was {
			o.Log.Info("google disconnected", "revoked", revoked)
		}
		respond.JSON(w, http.StatusOK, GoogleDisconnected{WasConnected: was, Revoked: revoked})
	})
}
