package httpapi

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"clawdbot.cloud/services/runtime/internal/auth"
	"clawdbot.cloud/services/runtime/internal/ratelimit"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/telegram"
)

// limitBody caps request bodies at MaxBodyBytes; reading past it fails and
// the server closes the connection.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// rateLimit refuses a key's requests beyond its limit with 429 and a
// Retry-After. It runs after authentication: unauthenticated requests have
// no key to count against.
func rateLimit(l *ratelimit.Limiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.Allow(auth.Identity(r.Context())); !ok {
			w.Header().Set("Retry-After", seconds(wait))
			respond.Error(w, http.StatusTooManyRequests, "too many requests for this api key, slow down")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// seconds formats d as a Retry-After value: whole seconds, rounded up, at
// least 1.
func seconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// cors lets the dashboard's origin, and only it, call the API from a
// browser. Other origins get no CORS headers, so browsers refuse them the
// answer; their preflights get 403. No cookies are involved (the API key
// travels in Authorization), so credentials are not allowed.
func cors(origin string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Origin")
		allowed := origin != "" && got == origin
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "Retry-After, Content-Disposition")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				respond.Error(w, http.StatusForbidden, "cross-origin requests from this origin are not allowed")
				return
			}
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing
// and per-request deadlines for streaming responses).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request: method, path, status and duration.
// Headers are not logged (Authorization holds the API key), nor are query
// strings (a search query is the customer's text).
// The Telegram webhook's path id is logged as "{path_id}".
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		path := r.URL.Path
		if strings.HasPrefix(path, telegram.WebhookPathPrefix) {
			path = telegram.WebhookPathPrefix + "{path_id}"
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("path", path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		)
	})
}
