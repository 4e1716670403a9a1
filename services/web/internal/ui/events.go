package ui

import (
	"context"
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
	// eventWait is how long one read asks the ingress to wait for a change:
	// inside the web's 15 s client timeout for the ingress.
	eventWait = 10 * time.Second
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
	// The ingress holds each read until the progress changes (or
	// eventWait passes), so a step reaches the browser as it happens;
	// eventPoll paces only the reads the ingress answers at once (a session
	// it does not know yet, an error, an account the app has not recorded).
	ctx, cancel := context.WithTimeout(r.Context(), eventMaxWait)
	defer cancel()
	go func() {
		select {
		case <-s.streamsDone:
			cancel() // shutting down: the browser reconnects
		case <-ctx.Done():
		}
	}()
	etag := ""
	for {
		asked := time.Now()
		p, next, changed, err := s.o.Ingress.ProvisioningChange(ctx, cs, etag, eventWait)
		pause := true
		switch {
		case ctx.Err() != nil:
			return // the browser left, the stream's time is up, or shutdown
		case err == nil && !changed:
			// The ingress waited already, unless it answered at once (it
			// holds too many waits, or does not wait).
			pause = time.Since(asked) < eventPoll
		case err == nil:
			// An ingress that sends no ETag cannot wait: poll it.
			etag, pause = next, next == ""
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
				// The ingress will not change again: read it again at once
				// and look for the account at the poll's pace.
				etag, pause = "", true
			}
		case ingressapi.StatusOf(err) == http.StatusNotFound:
			// Stripe's webhook may arrive after the browser: wait.
		default:
			s.o.Log.WarnContext(r.Context(), "provisioning status", "err", err)
		}
		if !pause {
			continue
		}
		t := time.NewTimer(eventPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
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
