package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"clawdbot.cloud/services/railway/internal/app"
)

// responder answers on a stopped instance's port in place of its runtime,
// so that the customer's API key gets a clear error instead of a refused
// connection: 402 {"error":"suspended: ..."} for a suspended customer, 403
// {"error":"canceled: ..."} for a canceled one. It reads nothing of the
// request and touches no database.
type responder struct {
	reason string
	srv    *http.Server
	done   chan struct{}
}

// responderMessages are the texts callers read while an instance is stopped.
var responderMessages = map[string]struct {
	status int
	text   string
}{
	app.StopSuspended: {http.StatusPaymentRequired, "suspended: this assistant is paused because the subscription's payment failed; update the payment method to resume it"},
	app.StopCanceled:  {http.StatusForbidden, "canceled: this assistant's subscription was canceled; subscribe again within 30 days to get it back with its data"},
}

// startResponder listens on 127.0.0.1:port and answers every request for
// reason. The port was just released by the runtime, so a bind failure is
// retried briefly.
func startResponder(port int, reason string, log *slog.Logger) (*responder, error) {
	msg, ok := responderMessages[reason]
	if !ok {
		return nil, fmt.Errorf("%w: stop reason %q", app.ErrRejected, reason)
	}
	body, _ := json.Marshal(map[string]string{"error": msg.text})
	var ln net.Listener
	var err error
	for try := 0; try < 20; try++ {
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("stopped-instance responder on port %d: %w", port, err)
	}
	r := &responder{reason: reason, done: make(chan struct{})}
	r.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(msg.status)
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { // ends when close shuts the server down; close waits for it
		defer close(r.done)
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("stopped-instance responder ended", "err", err)
		}
	}()
	return r, nil
}

// close stops answering and releases the port.
func (r *responder) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		_ = r.srv.Close()
	}
	<-r.done
}
