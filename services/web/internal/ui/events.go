package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"clawdbot.cloud/services/web/internal/ingressapi"
	"clawdbot.cloud/services/web/internal/store"
)

// Provisioning events of GET /welcome/events (server-sent events):
//
//	event: step   data: {"name","status","compensation"}   each step state once, in order
//	event: ready  data: {"instance_url"}                    the instance answers; the key can be revealed
//	event: failed data: {"reason"}                          the signup failed and was undone
//
// The stream ends after ready or failed. A browser that reconnects (the
// EventSource does so by itself) is sent every step again; the page shows
// each once.
const (
	eventPoll    = 100 * time.Millisecond
	eventMaxWait = 5 * time.Minute
)

func (s *Server) welcomeEvents(w http.ResponseWriter, r *http.Request) {
	cs := r.URL.Query().Get("session_id")
	if _, ok := s.welcomeAccess(r, cs); !ok {
		s.o.Metrics.refused.WithLabelValues("forbidden").Inc()
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown checkout"})
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) error {
		b, _ := json.Marshal(v)
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := io.WriteString(w, "retry: 1000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()

	sent := map[string]bool{}
	deadline := time.NewTimer(eventMaxWait)
	defer deadline.Stop()
	tick := time.NewTicker(eventPoll)
	defer tick.Stop()
	for {
		p, err := s.o.Ingress.Provisioning(r.Context(), cs)
		switch {
		case err == nil:
			for _, st := range p.Steps {
				k := fmt.Sprint(st.Name, "/", st.Status, "/", st.Compensation)
				if sent[k] {
					continue
				}
				sent[k] = true
				if send("step", st) != nil {
					return
				}
			}
			switch p.Status {
			case "failed":
				_ = send("failed", map[string]string{"reason": p.FailureReason})
				return
			case "ready":
				// Ready once the app knows the account too, so the reveal
				// can sign the browser in.
				if _, err := s.o.Store.AccountByCheckout(r.Context(), cs); err == nil {
					_ = send("ready", map[string]any{"instance_url": p.InstanceURL, "api_key_available": p.APIKeyAvailable})
					return
				} else if !errors.Is(err, store.ErrNotFound) {
					s.o.Log.ErrorContext(r.Context(), "account by checkout", "err", err)
				}
			}
		case ingressapi.StatusOf(err) == http.StatusNotFound:
			// Stripe's webhook may arrive after the browser: wait.
		default:
			s.o.Log.WarnContext(r.Context(), "provisioning status", "err", err)
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.streamsDone:
			return // shutting down: the browser reconnects
		case <-deadline.C:
			return // the browser reconnects
		case <-tick.C:
		}
	}
}

// decodeJSON reads a small JSON body strictly; on failure it answers 400,
// 413 or 415 and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send JSON with Content-Type: application/json"})
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body"})
		return false
	}
	return true
}
