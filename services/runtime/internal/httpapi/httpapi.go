// Package httpapi is the runtime's HTTP API: the routes customers, their
// dashboard and the platform's prober call, with their middleware.
//
//	GET    /health                   liveness and database check (no auth)
//	GET    /openapi.json             this API's OpenAPI document (openapi.json; no auth)
//	GET    /status                   plan, usage against quota, version (key or instance token)
//	POST   /api/chat                 one chat turn, streamed as server-sent events on request
//	GET    /api/conversations        conversations, most recently active first
//	GET    /api/conversations/{id}   one conversation with its messages
//	DELETE /api/conversations/{id}   delete a conversation
//	POST   /api/memory               store a memory (also appended to today's daily note)
//	GET    /api/memory               memories, newest first
//	GET    /api/memory/search?q=     full-text search, ranked, with highlights
//	DELETE /api/memory/{id}          delete a memory (and its daily-note entry)
//	GET    /api/skills               the plan's skills and which are enabled
//	PUT    /api/skills/{name}        {"enabled": bool}, within the plan
//	GET    /api/workspace/export     the OpenClaw state directory as a tar.gz
//	GET    /api/keys                 the API keys (prefix, name, created, last used, revoked)
//	POST   /api/keys                 {"name"} → a new key, shown in this answer only
//	DELETE /api/keys/{id}            revoke a key (refused from the next request on)
//	GET    /api/usage                this period's usage per day, against the quota
//	GET    /api/screenshots/{id}     a PNG the browser tool took
//	GET    /api/agents               named agents (Team; agents.go)
//	PUT    /api/agents/{name}        {"soul", "identity"}: create or replace one
//	DELETE /api/agents/{name}        remove one (its conversations stay)
//	PUT    /api/channels/telegram    {"bot_token"} → connect the customer's bot; answers a pairing code once
//	GET    /api/channels/telegram    the Telegram channel's state (connected, paired, broken; never the token)
//	DELETE /api/channels/telegram    disconnect the bot
//	POST   /telegram/webhook/{id}    Telegram's deliveries in webhook mode (secret token header, no key)
//	GET    /api/google               the connected Google account (Pro, Team; google.go)
//	PUT    /api/google               Google's tokens from the web app's OAuth callback
//	DELETE /api/google               revoke the grant at Google and forget the tokens
//	POST   /v1/chat/completions      the OpenAI-compatible chat API (openai.go)
//	GET    /v1/models                the instance's model, OpenAI-style
//	*      /openclaw/…               the OpenClaw Control UI, pages and WebSocket (openclaw engine; dashboard token only; controlui.go)
//
// Every route but /health, /openapi.json and the Telegram webhook needs "Authorization: Bearer claw_…" (or a
// dashboard token, see internal/auth) and is rate limited per key. Every
// answer is JSON (the export, screenshots and the streams excepted), errors
// as {"error": "..."} — on /v1 in OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/auth"
	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/openclaw"
	"clawdbot.cloud/services/runtime/internal/ratelimit"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/telegram"
)

// MaxBodyBytes bounds every request body. Chat requests are the largest
// legitimate bodies (32,000 characters of up to 4 bytes, JSON-escaped);
// 1 MiB leaves them ample room.
const MaxBodyBytes = 1 << 20

// Store is the customer's database as the API uses it: *pgxpool.Pool.
type Store interface {
	customerdb.TxBeginner
	Ping(ctx context.Context) error
}

// Options are the dependencies of the API.
type Options struct {
	// InstanceID and Version describe the instance in /status; CustomerID
	// is never shown to callers (a customer id is not a credential).
	CustomerID, InstanceID, Version string
	// Plan is the customer's plan, the source of quotas and skills.
	Plan plans.Plan
	// DB is the customer's own database.
	DB Store
	// DBCheck, when set, is /health's database check instead of DB.Ping
	// (the runtime's opens no backend to answer a probe of an idle instance).
	DBCheck func(ctx context.Context) error
	// Activity, when set, is the opaque token /health and /status carry:
	// it changes whenever the instance used its database for anything but
	// answering them (package observe) or restarted, so the health service
	// re-reads /status, which needs a database backend, only then.
	Activity func() string
	// Chat runs chat turns.
	Chat *chat.Service
	// Telegram is the Telegram channel; nil answers 503 on its routes.
	Telegram *telegram.Service
	// Ready, when set, must return nil for /health to answer 200: the
	// openclaw engine's gateway is up (nil on the runtime engine).
	Ready func() error
	// InstanceToken, when set, also opens /status (the platform's reads)
	// and PUT /platform/workspace (the workspace service's delivery).
	InstanceToken string
	// DashboardOrigin is the one origin CORS allows; none when empty.
	DashboardOrigin string
	// Limiter limits requests per API key; nil means no limit.
	Limiter *ratelimit.Limiter
	// ControlUI serves the OpenClaw gateway's Control UI under
	// openclaw.ControlPath (the openclaw engine); nil answers 404 there.
	ControlUI http.Handler
	// Google is the Google connection; nil when the platform has no
	// Google OAuth client (the routes answer 503).
	Google GoogleAccount
	// Metrics, when not nil, serves GET /metrics (Prometheus text) to the
	// instance token and the customer's keys: the openclaw engine's model
	// proxy counters.
	Metrics http.Handler
	// Log receives access and error logs.
	Log *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// methods are those the API routes use; the 404/405 fallback probes them.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// New returns the API's handler.
func New(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	// Made-up keys are remembered as unknown for a while, so a flood of
	// them costs the database one query per distinct key per minute at
	// most; a known key is looked up on every request (revocation).
	check := auth.NegativeCache(func(ctx context.Context, hash []byte) (bool, error) {
		return customerdb.CheckAPIKey(ctx, o.DB, hash)
	}, auth.DefaultNegativeEntries, auth.DefaultNegativeTTL, nil)
	guard := auth.Guard(auth.Options{Check: check, InstanceToken: o.InstanceToken, Log: o.Log, Now: o.Now})
	guardStatus := auth.Guard(auth.Options{Check: check, InstanceToken: o.InstanceToken, AdmitInstance: true, Log: o.Log, Now: o.Now})
	key := func(h http.Handler) http.Handler {
		return guard(rateLimit(o.Limiter, h))
	}
	keyOrToken := func(h http.Handler) http.Handler {
		return guardStatus(rateLimit(o.Limiter, h))
	}

	mux := http.NewServeMux()
	mux.Handle("GET /health", health(o))
	mux.Handle("GET /openapi.json", openAPI())
	statusCache := &statusCache{}
	mux.Handle("GET /status", keyOrToken(status(o, statusCache)))
	if o.Metrics != nil {
		mux.Handle("GET /metrics", keyOrToken(o.Metrics))
	}
	if o.InstanceToken != "" {
		mux.Handle("PUT "+PlatformWorkspacePath, auth.RequireInstance(o.InstanceToken)(deliverWorkspace(o, statusCache)))
	}
	mux.Handle("POST /api/chat", key(chatHandler(o)))
	mux.Handle("GET /api/conversations", key(listConversations(o)))
	mux.Handle("GET /api/conversations/{id}", key(getConversation(o)))
	mux.Handle("DELETE /api/conversations/{id}", key(deleteConversation(o)))
	mux.Handle("POST /api/memory", key(addMemory(o)))
	mux.Handle("GET /api/memory", key(listMemories(o)))
	mux.Handle("GET /api/memory/search", key(searchMemories(o)))
	mux.Handle("DELETE /api/memory/{id}", key(deleteMemory(o)))
	mux.Handle("GET /api/skills", key(listSkills(o)))
	mux.Handle("PUT /api/skills/{name}", key(setSkill(o)))
	mux.Handle("PATCH /api/skills/{name}", key(setSkill(o)))
	mux.Handle("GET /api/workspace/export", key(export(o)))
	mux.Handle("GET /api/keys", key(listKeys(o)))
	mux.Handle("POST /api/keys", key(createKey(o)))
	mux.Handle("DELETE /api/keys/{id}", key(revokeKey(o)))
	mux.Handle("GET /api/usage", key(usage(o)))
	mux.Handle("GET /api/screenshots/{id}", key(screenshot(o)))
	mux.Handle("GET /api/agents", key(listAgents(o)))
	mux.Handle("PUT /api/agents/{name}", key(putAgent(o)))
	mux.Handle("DELETE /api/agents/{name}", key(deleteAgent(o)))
	mux.Handle("PUT /api/channels/telegram", key(putTelegram(o)))
	mux.Handle("GET /api/channels/telegram", key(getTelegram(o)))
	mux.Handle("DELETE /api/channels/telegram", key(deleteTelegram(o)))
	mux.Handle("POST "+telegram.WebhookPathPrefix+"{path_id}", telegramWebhook(o))
	mux.Handle("GET /api/google", key(getGoogle(o)))
	mux.Handle("PUT /api/google", key(putGoogle(o)))
	mux.Handle("DELETE /api/google", key(deleteGoogle(o)))
	mux.Handle("POST /v1/chat/completions", openAIErrors(key(completions(o))))
	mux.Handle("GET /v1/models", openAIErrors(key(models(o))))
	if o.ControlUI != nil {
		cui := guard(controlUI(o.Log, o.ControlUI))
		mux.Handle(openclaw.ControlPath, cui)
		mux.Handle(openclaw.ControlPath+"/", cui)
	}
	mux.Handle("/", fallback(mux))
	return accessLog(o.Log, limitBody(cors(o.DashboardOrigin, mux)))
}

// fallback answers requests no route takes: 405 with an Allow header when
// the path exists for other methods, 404 otherwise, both as JSON. (With a
// catch-all registered the mux never answers 405 itself.)
func fallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			respond.Error(w, http.StatusNotFound, "not found")
			return
		}
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		respond.Error(w, http.StatusMethodNotAllowed, "method not allowed")
	})
}
