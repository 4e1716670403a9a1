package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// Admin routes. Each is one request to the saga coordinator's admin API
// (core NATS request/reply, JSON; shapes in services/saga/README.md), whose
// success body is relayed as is.
const (
	RouteAdminCustomer    = "GET /v1/admin/customers/{customer_id}"
	RouteAdminDeprovision = "POST /v1/admin/customers/{customer_id}/deprovision"
	RouteAdminSagas       = "GET /v1/admin/sagas"
	RouteAdminSaga        = "GET /v1/admin/sagas/{saga_id}"
	RouteAdminRetry       = "POST /v1/admin/sagas/{saga_id}/retry"
)

// AdminRequester sends one request and waits for its reply: *nats.Conn.
type AdminRequester interface {
	RequestWithContext(ctx context.Context, subject string, data []byte) (*nats.Msg, error)
}

// Saga statuses and kinds the list accepts (services/saga/README.md).
var (
	sagaStatuses = []string{"running", "completed", "compensating", "compensated", "failed"}
	sagaKinds    = []string{"signup", "reactivate", "plan_change", "suspend", "resume", "cancel", "archive", "delete", "deprovision"}
)

// adminHandler serves the /v1/admin/ routes behind the admin token.
type adminHandler struct {
	Deps
	// tokenSum is the SHA-256 of the admin token; nil when disabled.
	tokenSum []byte
}

func newAdminHandler(d Deps) *adminHandler {
	h := &adminHandler{Deps: d}
	if d.AdminToken != "" {
		sum := sha256.Sum256([]byte(d.AdminToken))
		h.tokenSum = sum[:]
	}
	return h
}

// authorized answers 503 when the admin API is disabled and 401 for a
// missing or wrong token. Tokens are compared as SHA-256 sums in constant
// time, so neither their content nor their length leaks through timing.
func (h *adminHandler) authorized(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("Cache-Control", "no-store")
	if h.tokenSum == nil {
		writeError(w, http.StatusServiceUnavailable, "admin disabled: set ADMIN_TOKEN")
		return false
	}
	if !bearerMatches(r, h.tokenSum) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawdbot-admin"`)
		writeError(w, http.StatusUnauthorized, "admin token required: Authorization: Bearer <ADMIN_TOKEN>")
		return false
	}
	return true
}

// bearerMatches reports whether r carries Authorization: Bearer <token>
// whose SHA-256 is want, comparing the sums in constant time so neither the
// token's content nor its length leaks through timing.
func bearerMatches(r *http.Request, want []byte) bool {
	given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], want) == 1 && ok
}

// route wraps one admin operation: it authorizes, then calls build for the
// saga request (subject and body) or its reasons to refuse the request.
func (h *adminHandler) route(build func(r *http.Request) (string, any, []string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(w, r) {
			return
		}
		subject, req, reasons := build(r)
		if reasons != nil {
			writeInvalid(w, reasons)
			return
		}
		h.call(w, r, subject, req)
	})
}

// call sends req to subject and relays the reply: the success body as is,
// an error body with its code mapped to HTTP.
func (h *adminHandler) call(w http.ResponseWriter, r *http.Request, subject string, req any) {
	if h.Admin == nil {
		writeError(w, http.StatusServiceUnavailable, "saga admin API unavailable: no NATS connection")
		return
	}
	data, err := json.Marshal(req)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.AdminTimeout)
	defer cancel()
	msg, err := h.Admin.RequestWithContext(ctx, subject, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		writeError(w, http.StatusServiceUnavailable, "saga admin API unavailable: no saga coordinator answers "+subject)
		return
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		writeError(w, http.StatusGatewayTimeout, "saga admin API did not answer within "+h.AdminTimeout.String())
		return
	case err != nil:
		h.Log.Error("admin request", "subject", subject, "err", err)
		writeError(w, http.StatusServiceUnavailable, "saga admin API unavailable")
		return
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(msg.Data, &e) != nil || !json.Valid(msg.Data) {
		h.Log.Error("admin reply is not JSON", "subject", subject)
		writeError(w, http.StatusBadGateway, "saga admin API answered something that is not JSON")
		return
	}
	if e.Error != "" || e.Code != "" {
		writeError(w, adminStatus(e.Code), e.Error)
		return
	}
	h.Log.Info("admin request served", "subject", subject)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(bytes.TrimSpace(msg.Data), '\n'))
}

// adminStatus maps the saga's error codes to HTTP.
func adminStatus(code string) int {
	switch code {
	case "not_found":
		return http.StatusNotFound
	case "bad_request":
		return http.StatusBadRequest
	case "conflict":
		return http.StatusConflict
	case "internal":
		return http.StatusInternalServerError
	}
	return http.StatusBadGateway
}

// registerAdmin adds the admin routes to mux.
func registerAdmin(mux *http.ServeMux, d Deps) {
	h := newAdminHandler(d)
	mux.Handle(RouteAdminCustomer, h.route(func(r *http.Request) (string, any, []string) {
		id := r.PathValue("customer_id")
		if !stripeevent.ValidCustomerID(id) {
			return "", nil, []string{"customer id must be a Stripe customer id (cus_...)"}
		}
		return subjects.AdminSagaCustomerGet, map[string]string{"customer_id": id}, nil
	}))
	mux.Handle(RouteAdminDeprovision, h.route(func(r *http.Request) (string, any, []string) {
		id := r.PathValue("customer_id")
		reasons := []string(nil)
		if !stripeevent.ValidCustomerID(id) {
			reasons = append(reasons, "customer id must be a Stripe customer id (cus_...)")
		}
		reason := r.URL.Query().Get("reason")
		if len(reason) > 500 {
			reasons = append(reasons, "reason longer than 500 bytes")
		}
		return subjects.AdminSagaCustomerDeprovision, map[string]string{"customer_id": id, "reason": reason}, reasons
	}))
	mux.Handle(RouteAdminSagas, h.route(func(r *http.Request) (string, any, []string) {
		return parseSagaList(r)
	}))
	mux.Handle(RouteAdminSaga, h.route(func(r *http.Request) (string, any, []string) {
		id := r.PathValue("saga_id")
		if !validSagaID(id) {
			return "", nil, []string{"saga id must be 1 to 255 letters, digits, '_' or '-'"}
		}
		return subjects.AdminSagaGet, map[string]string{"saga_id": id}, nil
	}))
	mux.Handle(RouteAdminRetry, h.route(func(r *http.Request) (string, any, []string) {
		id := r.PathValue("saga_id")
		if !validSagaID(id) {
			return "", nil, []string{"saga id must be 1 to 255 letters, digits, '_' or '-'"}
		}
		return subjects.AdminSagaRetry, map[string]string{"saga_id": id}, nil
	}))
}

// parseSagaList reads GET /v1/admin/sagas?status=&kind=&customer_id=&limit=
// ("state" is accepted for "status").
func parseSagaList(r *http.Request) (string, any, []string) {
	q := r.URL.Query()
	status := q.Get("status")
	if status == "" {
		status = q.Get("state")
	}
	req := struct {
		Status     string `json:"status,omitempty"`
		Kind       string `json:"kind,omitempty"`
		CustomerID string `json:"customer_id,omitempty"`
		Limit      int    `json:"limit,omitempty"`
	}{Status: status, Kind: q.Get("kind"), CustomerID: q.Get("customer_id")}
	var reasons []string
	if req.Status != "" && !contains(sagaStatuses, req.Status) {
		reasons = append(reasons, "status must be one of "+strings.Join(sagaStatuses, ", "))
	}
	if req.Kind != "" && !contains(sagaKinds, req.Kind) {
		reasons = append(reasons, "kind must be one of "+strings.Join(sagaKinds, ", "))
	}
	if req.CustomerID != "" && !stripeevent.ValidCustomerID(req.CustomerID) {
		reasons = append(reasons, "customer_id must be a Stripe customer id (cus_...)")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			reasons = append(reasons, "limit must be 1 to 500")
		}
		req.Limit = n
	}
	return subjects.AdminSagaList, req, reasons
}

// validSagaID accepts the saga ids the coordinator makes (signup-cs_...,
// cancel-cus_...-evt_..., ...-retry2): letters, digits, '_' and '-'.
func validSagaID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
