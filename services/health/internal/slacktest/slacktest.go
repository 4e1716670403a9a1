// Package slacktest is a real HTTP receiver standing in for a Slack
// incoming webhook in tests: it accepts POSTed JSON {"text": ...} as Slack
// does ("ok"), can answer 429 with Retry-After or 500 on demand, and keeps
// the texts it accepted.
package slacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Receiver is a running webhook receiver.
type Receiver struct {
	// URL is the webhook URL to configure.
	URL  string
	mu   sync.Mutex
	msgs []string
	fail []int
}

// Start starts a receiver that stops when the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/services/T000/B000/XXXX"
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	data, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err := json.Unmarshal(data, &body); err != nil || body.Text == "" {
		http.Error(w, "no_text", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if len(r.fail) > 0 {
		status := r.fail[0]
		r.fail = r.fail[1:]
		r.mu.Unlock()
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		http.Error(w, "failure", status)
		return
	}
	r.msgs = append(r.msgs, body.Text)
	r.mu.Unlock()
	io.WriteString(w, "ok")
}

// FailNext makes the next requests answer the given statuses, in order.
func (r *Receiver) FailNext(statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = append(r.fail, statuses...)
}

// Messages returns the accepted texts, in order.
func (r *Receiver) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}
