package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// provisioningHandler serves GET /v1/provisioning/{checkout_session_id}: the
// page Stripe's success URL leads to polls it until the instance is ready.
//
// Whoever knows the Checkout Session id may read it, as with Stripe's own
// success-page design ({CHECKOUT_SESSION_ID} in the success URL), so it
// never carries the API key: the key is revealed once, by POST .../reveal,
// to the browser holding the nonce the checkout was bound to. Responses are
// never cached (no-store).
type provisioningHandler struct {
	Deps
	// waiting counts the requests waiting for a change.
	waiting atomic.Int64
	// answered is what this process last answered per signup in progress.
	answered answeredSignups
}

// answeredSignups remembers, for a short while, the ETag this process last
// answered for a signup still provisioning and the Changes mark taken
// before the read behind it. A client that waits for the next change comes
// back at once with that ETag; when no notification of its saga came since
// the mark, its request waits without reading first (a signup was ~18
// reads, a third of them these). Only signups in progress are kept: their
// steps are notified (Store.Apply) until the last one, while a ready
// signup's reveal and key expiry are not. A customer state reported while
// it provisions is not notified either: the skipped read would have shown
// it, the next step's read does.
type answeredSignups struct {
	mu     sync.Mutex
	m      map[string]answer
	pruned time.Time
}

// answer is one answered read: its ETag, saga, mark and time.
type answer struct {
	etag, sagaID string
	mark         uint64
	at           time.Time
}

// answerKeep is how long an answer is trusted: a client waiting for the
// next change is back within milliseconds of the last, and an answer older
// than this is read again as before.
const answerKeep = time.Second

// maxAnswers bounds the answers kept (a burst of waiting signups).
const maxAnswers = 8192

// remember records an answer; answers past answerKeep are dropped on the
// way, at most once per answerKeep.
func (a *answeredSignups) remember(id string, ans answer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]answer{}
	}
	if ans.at.Sub(a.pruned) > answerKeep {
		for k, v := range a.m {
			if ans.at.Sub(v.at) > answerKeep {
				delete(a.m, k)
			}
		}
		a.pruned = ans.at
	}
	if len(a.m) < maxAnswers {
		a.m[id] = ans
	}
}

// current returns the answer for id when it carried etag and is recent.
func (a *answeredSignups) current(id, etag string, now time.Time) (answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ans, ok := a.m[id]
	if !ok || ans.etag != etag || now.Sub(ans.at) > answerKeep {
		return answer{}, false
	}
	return ans, true
}

// provisioningResponse is the API's JSON body.
type provisioningResponse struct {
	CheckoutSessionID string `json:"checkout_session_id"`
	// Status is provisioning, ready or failed.
	Status string     `json:"status"`
	Steps  []stepJSON `json:"steps"`
	// InstanceURL is where the customer's assistant answers, once known.
	InstanceURL string `json:"instance_url"`
	// APIKeyAvailable is true while POST .../reveal can hand out the key:
	// ready, a reveal hash was bound, not revealed, not expired.
	APIKeyAvailable bool `json:"api_key_available"`
	// APIKeyRevealed is true once the key has been handed out.
	APIKeyRevealed bool   `json:"api_key_revealed"`
	FailureReason  string `json:"failure_reason"`
	// CustomerState is the customer's lifecycle state (active, past_due,
	// suspended, canceled, archived, deleted) once the saga reported one.
	CustomerState string `json:"customer_state,omitempty"`
}

// stepJSON is one step of the response.
type stepJSON struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	At           time.Time `json:"at"`
	Compensation bool      `json:"compensation,omitempty"`
}

// Waiting for a change (a long poll). A client that sends the ETag of what
// it has (If-None-Match) and Prefer: wait=N (RFC 7240, seconds) is answered
// when the progress differs from it, or with 304 Not Modified after N
// seconds (at most maxWait): the success page and `clawctl signup` see each
// step as it happens with one request per step instead of a poll every few
// milliseconds. Without If-None-Match, or with a stale ETag, the answer is
// immediate, as without Prefer.
const (
	// maxWait bounds Prefer: wait, well inside the server's write timeout
	// (45 s).
	maxWait = 25 * time.Second
	// waitRecheck is how often a waiting request reads again whatever the
	// notifications say: a change that is not a provisioning step (the
	// customer's state), or one made while the listener was down (it wakes
	// every waiter when it is back). Each recheck is a read per waiter:
	// 500 waiters re-reading every second held the reads of the others.
	waitRecheck = 5 * time.Second
	// maxWaiting bounds the requests one process holds waiting; past it a
	// request is answered at once, as without Prefer.
	maxWaiting = 4096
)

// ServeHTTP answers one read; it never changes anything.
func (h *provisioningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id := r.PathValue("checkout_session_id")
	if !stripeevent.ValidCheckoutSessionID(id) {
		writeError(w, http.StatusBadRequest, "invalid checkout session id")
		return
	}
	have := r.Header.Get("If-None-Match")
	wait := preferWait(r.Header)
	if wait > 0 && have != "" {
		if h.waiting.Add(1) > maxWaiting {
			h.Metrics.waits.WithLabelValues(WaitRefused).Inc()
			wait = 0
		} else {
			h.Metrics.waiting.Inc()
			defer h.Metrics.waiting.Dec()
		}
		defer h.waiting.Add(-1)
	}
	var (
		deadline = time.Now().Add(wait)
		changed  <-chan struct{}
		recheck  *time.Ticker
		mark     uint64
		// known is the saga of an answer that still holds (see
		// answeredSignups): the first read is skipped.
		known string
	)
	if wait > 0 && h.Changes != nil {
		if ans, ok := h.answered.current(id, have, time.Now()); ok && !h.Changes.ChangedSince(ans.sagaID, ans.mark) {
			var stop func()
			changed, stop = h.Changes.Subscribe(ans.sagaID)
			defer stop()
			// A notification between the check and the subscription
			// is not on the channel: look again, now that it would be.
			if !h.Changes.ChangedSince(ans.sagaID, ans.mark) {
				known = ans.sagaID
				h.Metrics.readsSkipped.Inc()
			}
		}
	}
	for {
		saga := known
		if known != "" {
			// The answer's read stands: straight to the wait.
			w.Header().Set("ETag", have)
			known = ""
		} else {
			if h.Changes != nil {
				mark = h.Changes.Mark()
			}
			p, err := h.Store.Lookup(r.Context(), id)
			if errors.Is(err, store.ErrNotFound) {
				writeError(w, http.StatusNotFound, "unknown checkout session")
				return
			}
			if err != nil {
				h.Log.Error("provisioning lookup", "checkout_ref", stripeevent.Ref(id), "err", err)
				writeError(w, http.StatusServiceUnavailable, "temporarily unavailable; retry")
				return
			}
			body, etag, err := h.render(p)
			if err != nil {
				h.Log.Error("provisioning response", "checkout_ref", stripeevent.Ref(id), "err", err)
				writeError(w, http.StatusInternalServerError, "internal error")
				return
			}
			w.Header().Set("ETag", etag)
			if !etagMatches(have, etag) {
				if changed != nil || recheck != nil {
					h.Metrics.waits.WithLabelValues(WaitChanged).Inc()
				}
				if h.Changes != nil && p.Status == store.StatusProvisioning {
					h.answered.remember(id, answer{etag: etag, sagaID: p.SagaID, mark: mark, at: time.Now()})
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Content-Type-Options", "nosniff")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body) // the client may be gone; nothing to do about it
				return
			}
			saga = p.SagaID
		}
		left := time.Until(deadline)
		if wait == 0 || left <= 0 {
			if wait > 0 {
				h.Metrics.waits.WithLabelValues(WaitUnchanged).Inc()
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if recheck == nil {
			markWaited(w)
			recheck = time.NewTicker(waitRecheck)
			defer recheck.Stop()
			if h.Changes != nil && changed == nil {
				// The read above began after mark; a change it did not see
				// is notified after mark: before the subscription (read
				// again) or after it (it wakes the wait below).
				var stop func()
				changed, stop = h.Changes.Subscribe(saga)
				defer stop()
				if h.Changes.ChangedSince(saga, mark) {
					continue
				}
			}
		}
		timeout := time.NewTimer(left)
		select {
		case <-r.Context().Done():
			timeout.Stop()
			h.Metrics.waits.WithLabelValues(WaitGone).Inc()
			return
		case <-changed:
		case <-recheck.C:
		case <-timeout.C:
			// Nothing said it changed since the last read: answered without
			// another, so the answer comes on time however busy the
			// database is.
			h.Metrics.waits.WithLabelValues(WaitUnchanged).Inc()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		timeout.Stop()
	}
}

// render is the JSON body of p and its ETag (a strong validator: a digest
// of the body).
func (h *provisioningHandler) render(p store.Provisioning) (body []byte, etag string, err error) {
	resp := provisioningResponse{
		CheckoutSessionID: p.CheckoutSessionID,
		Status:            p.Status,
		Steps:             make([]stepJSON, 0, len(p.Steps)),
		InstanceURL:       p.InstanceURL,
		APIKeyAvailable:   p.Status == store.StatusReady && p.RevealHash != "" && p.APIKeyRef != "" && !p.APIKeyRevealed && !h.expired(p),
		APIKeyRevealed:    p.APIKeyRevealed,
		FailureReason:     p.FailureReason,
		CustomerState:     p.CustomerState,
	}
	for _, s := range p.Steps {
		resp.Steps = append(resp.Steps, stepJSON{Name: s.Name, Status: s.Status, At: s.At, Compensation: s.Compensation})
	}
	body, err = json.Marshal(resp)
	if err != nil {
		return nil, "", err
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	return body, `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`, nil
}

// preferWait is the wait preference of h (Prefer: wait=N, RFC 7240),
// capped at maxWait; 0 when absent or malformed.
func preferWait(h http.Header) time.Duration {
	for _, v := range h.Values("Prefer") {
		for pref := range strings.SplitSeq(v, ",") {
			pref, _, _ = strings.Cut(pref, ";") // parameters of a preference
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n <= 0 {
				return 0
			}
			return min(time.Duration(n)*time.Second, maxWait)
		}
	}
	return 0
}

// etagMatches reports whether an If-None-Match value names etag (weak
// comparison, RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// expired reports whether p's key may no longer be revealed: the sweeper
// deleted it, or it has been ready for RevealTTL, swept or not.
func (d Deps) expired(p store.Provisioning) bool {
	return p.APIKeyExpired || (!p.ReadyAt.IsZero() && !d.Now().Before(p.ReadyAt.Add(d.RevealTTL)))
}
