package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"

	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// RouteReveal is the one-time key reveal.
const RouteReveal = "POST /v1/provisioning/{checkout_session_id}/reveal"

// revealHandler serves POST /v1/provisioning/{checkout_session_id}/reveal
// {"nonce": "..."} → {"api_key", "instance_url"}, once.
//
// The checkout bound the reveal to the browser that started it: the
// session's metadata.reveal_hash is the SHA-256 of a nonce only that
// browser holds (an HttpOnly cookie of the web app). Knowing the session id
// is therefore not enough: the id travels in URLs, the nonce does not.
//
// Answers: 200 with the key, to the first caller and, for RevealGrace
// after that, again to the same browser (the nonce): an answer lost to a
// crashed replica or a dropped connection is not a lost key. Then the
// key is deleted (secrets.Reveal; SweepRevealed); 400 malformed id or body; 404
// unknown session; 409 still provisioning, or failed (with the reason); 403
// wrong nonce or no hash bound; 410 already revealed, or expired
// (Deps.RevealTTL after ready); 413 body over 16 KiB; 503 store down.
type revealHandler struct {
	Deps
}

// revealResponse is the one response that carries the key.
type revealResponse struct {
	APIKey      string `json:"api_key"`
	InstanceURL string `json:"instance_url"`
}

// ServeHTTP answers one reveal.
func (h *revealHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id := r.PathValue("checkout_session_id")
	if !stripeevent.ValidCheckoutSessionID(id) {
		h.refuse(w, http.StatusBadRequest, RevealBadRequest, "invalid checkout session id")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		h.Metrics.reveals.WithLabelValues(RevealBadRequest).Inc()
		return
	}
	nonce, reasons := parseReveal(body)
	if reasons != nil {
		h.Metrics.reveals.WithLabelValues(RevealBadRequest).Inc()
		writeInvalid(w, reasons)
		return
	}
	ctx := r.Context()
	log := h.Log.With("checkout_ref", stripeevent.Ref(id))
	p, err := h.Store.Lookup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		h.refuse(w, http.StatusNotFound, RevealNotFound, "unknown checkout session")
		return
	}
	if err != nil {
		h.unavailable(w, log, "lookup", err)
		return
	}
	log = log.With("saga_id", p.SagaID)
	switch p.Status {
	case store.StatusProvisioning:
		h.refuse(w, http.StatusConflict, RevealNotReady, "not ready yet")
		return
	case store.StatusFailed:
		h.refuse(w, http.StatusConflict, RevealNotReady, "signup failed: "+p.FailureReason)
		return
	}
	if !nonceMatches(nonce, p.RevealHash) {
		log.Warn("api key reveal refused: the nonce does not match the checkout's reveal hash", "hash_bound", p.RevealHash != "")
		h.refuse(w, http.StatusForbidden, RevealForbidden, "this browser cannot reveal this key")
		return
	}
	// A revealed key is shown again only within its grace window, which
	// the secret store keeps; with no window it is gone.
	if p.APIKeyRevealed && h.RevealGrace <= 0 {
		h.refuse(w, http.StatusGone, RevealAlreadyRevealed, "already revealed")
		return
	}
	if !p.APIKeyRevealed && h.expired(p) {
		h.refuse(w, http.StatusGone, RevealExpired, "expired")
		return
	}
	// The secret store decides the grace window (its clock, one row lock):
	// past it the key is deleted and reported gone.
	key, first, err := h.Secrets.Reveal(ctx, p.APIKeyRef, h.RevealGrace)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		h.markRevealed(ctx, log, id)
		h.refuse(w, http.StatusGone, RevealAlreadyRevealed, "already revealed")
		return
	case err != nil:
		h.unavailable(w, log, "take api key", err)
		return
	}
	// The flag only saves later calls a trip to the secret store once the
	// window has passed: if it is not written, they find the secret gone
	// and answer the same. Written on a repeat too: the first answer may
	// have died with its replica before writing it.
	if !p.APIKeyRevealed {
		h.markRevealed(ctx, log, id)
	}
	if first {
		h.Metrics.reveals.WithLabelValues(RevealRevealed).Inc()
		log.Info("api key revealed")
	} else {
		h.Metrics.reveals.WithLabelValues(RevealRepeated).Inc()
		log.Info("api key revealed again within the grace window")
	}
	writeJSON(w, http.StatusOK, revealResponse{APIKey: string(key), InstanceURL: p.InstanceURL})
}

// nonceMatches reports whether nonce's SHA-256 is the bound hash, in
// constant time; false when no hash is bound.
func nonceMatches(nonce, revealHash string) bool {
	want, err := hex.DecodeString(revealHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(nonce))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// markRevealed records the reveal even if the caller has gone.
func (h *revealHandler) markRevealed(ctx context.Context, log *slog.Logger, id string) {
	if err := h.Store.MarkRevealed(context.WithoutCancel(ctx), id); err != nil {
		log.Warn("mark api key revealed", "err", err)
	}
}

// refuse counts outcome and answers code with msg.
func (h *revealHandler) refuse(w http.ResponseWriter, code int, outcome, msg string) {
	h.Metrics.reveals.WithLabelValues(outcome).Inc()
	writeError(w, code, msg)
}

// unavailable answers 503 after a store failure.
func (h *revealHandler) unavailable(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	log.Error("api key reveal: "+what, "err", err)
	h.refuse(w, http.StatusServiceUnavailable, RevealUnavailable, "temporarily unavailable; retry")
}
