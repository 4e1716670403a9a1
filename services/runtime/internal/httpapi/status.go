package httpapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/observe"
	"clawdbot.cloud/services/runtime/internal/quota"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// StatusBody is the body of GET /status. The platform's health service may
// read it with the instance token, to learn usage without touching the
// customer's database. It carries no customer id: a customer id is not a
// credential, and what a customer's key can read should not hand out one.
type StatusBody struct {
	InstanceID string    `json:"instance_id"`
	Plan       string    `json:"plan"`
	Usage      UsageBody `json:"usage"`
	Quota      QuotaBody `json:"quota"`
	Model      ModelBody `json:"model"`
	Version    string    `json:"version"`
	// Engine is what answers chat (plans.EngineRuntime or
	// plans.EngineOpenClaw): the web app offers the OpenClaw Control UI
	// only on the openclaw engine.
	Engine string `json:"engine"`
	// Channels is the state of the connected channels; absent when none
	// is connected. The health service mails the customer when one breaks.
	Channels *ChannelsBody `json:"channels,omitempty"`
	// Activity is Options.Activity's token as of just before this answer
	// was read: the health service reads /status again only once /health
	// shows another.
	Activity string `json:"activity,omitempty"`
}

// ChannelsBody is the channels part of /status.
type ChannelsBody struct {
	Telegram *ChannelState `json:"telegram,omitempty"`
}

// ChannelState is a connected channel as /status shows it.
type ChannelState struct {
	Broken       bool       `json:"broken"`
	BrokenReason string     `json:"broken_reason,omitempty"`
	BrokenAt     *time.Time `json:"broken_at,omitempty"`
	BotUsername  string     `json:"bot_username,omitempty"`
}

// UsageBody is the usage of the current period.
type UsageBody struct {
	Messages     int64 `json:"messages"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// PeriodStart is the first instant of the period (UTC).
	PeriodStart time.Time `json:"period_start"`
	// PeriodEnd is when the period ends and usage resets (UTC).
	PeriodEnd time.Time `json:"period_end"`
}

// QuotaBody is what the plan allows per period and what is left.
type QuotaBody struct {
	MonthlyMessages int64 `json:"monthly_messages"`
	// Remaining is the number of messages left this period.
	Remaining int64 `json:"remaining"`
	// Exceeded reports that chat turns are refused until ResetAt: the
	// messages or the tokens are spent.
	Exceeded bool `json:"exceeded"`
	// MonthlyTokens is the plan's token budget per period (input plus
	// output tokens of every model call).
	MonthlyTokens int64 `json:"monthly_tokens"`
	// TokensRemaining is the tokens left this period. A turn in flight when
	// it reaches 0 still finishes, so usage may end past the budget.
	TokensRemaining int64 `json:"tokens_remaining"`
	// TokensExceeded reports that the token budget is spent.
	TokensExceeded bool `json:"tokens_exceeded"`
	// ResetAt is when usage starts again from zero (the period's end).
	ResetAt time.Time `json:"reset_at"`
}

// ModelBody says which model answers, and whether a provider is set up at
// all (Provider is empty when not: chat turns answer 503).
type ModelBody struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Period returns the quota period containing t (see quota.Period).
func Period(t time.Time) (start, end time.Time) { return quota.Period(t) }

// status answers GET /status: the customer's usage this period against the
// plan's quota. An answer the cache holds for the current activity token
// is given without reading the database (statusCache).
func status(o Options, cache *statusCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading /status is the platform (or the customer) looking, not
		// the instance working: it does not change the activity token.
		ctx := observe.Mark(r.Context())
		// The token as of before the reads: work done while they run moves
		// it past what this answer carries, so the next probe reads again.
		activity := activityToken(o)
		if body, ok := cache.get(activity, o.Now()); ok {
			respond.JSON(w, http.StatusOK, body)
			return
		}
		body, err := readStatus(ctx, o)
		if err != nil {
			o.Log.ErrorContext(ctx, "status: read", "err", err)
			msg := "status unavailable, try again"
			if se := (*statusError)(nil); errors.As(err, &se) {
				msg = se.msg
			}
			respond.Error(w, http.StatusServiceUnavailable, msg)
			return
		}
		body.Activity = activity
		respond.JSON(w, http.StatusOK, body)
	})
}

// statusError is a /status read that failed: msg is what the answer says,
// err (logged) why.
type statusError struct {
	msg string
	err error
}

func (e *statusError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// readStatus reads /status's body from the database (its Activity left
// empty). ctx should be marked (observe.Mark): reading is not activity.
func readStatus(ctx context.Context, o Options) (StatusBody, error) {
	plan, err := skills.CurrentPlan(ctx, o.DB, o.Plan)
	q, qerr := quota.Read(ctx, o.DB, plan, o.Now())
	if err = errors.Join(err, qerr); err != nil {
		return StatusBody{}, &statusError{"usage unavailable, try again", err}
	}
	body := StatusBody{
		InstanceID: o.InstanceID,
		Plan:       plan.ID,
		Usage: UsageBody{
			Messages:     q.Used.Messages,
			InputTokens:  q.Used.InputTokens,
			OutputTokens: q.Used.OutputTokens,
			PeriodStart:  q.Start,
			PeriodEnd:    q.ResetAt,
		},
		Quota:   quotaBody(q),
		Version: o.Version,
		Engine:  engineName(o.Plan.Engine),
	}
	if o.Telegram != nil {
		tg, err := o.Telegram.State(ctx)
		if err != nil {
			return StatusBody{}, &statusError{"channel state unavailable, try again", err}
		}
		if tg.Connected {
			body.Channels = &ChannelsBody{Telegram: &ChannelState{
				Broken: tg.Broken, BrokenReason: tg.BrokenReason, BrokenAt: tg.BrokenAt, BotUsername: tg.BotUsername,
			}}
		}
	}
	if o.Chat != nil {
		body.Model.Model = o.Chat.Model
		if o.Chat.Provider != nil {
			body.Model.Provider = o.Chat.Provider.Name()
		}
	}
	return body, nil
}

// activityToken is o.Activity's token, "" without one.
func activityToken(o Options) string {
	if o.Activity == nil {
		return ""
	}
	return o.Activity()
}

// statusCacheTTL bounds how long a cached /status answer stands. The
// platform reads /status again after HEALTH_STATUS_MAX_AGE (15 minutes)
// even when the activity token did not move, to see what changed in the
// database without the instance (a plan the workspace service wrote
// itself); a cached answer must not outlive that, and it only has to
// outlive the health service's first read of a new instance, within one
// cycle (30 s) of its readiness.
const statusCacheTTL = 2 * time.Minute

// statusCache holds the /status answer read right after a workspace
// delivery, while the instance's database connection is open for it. The
// health service's first read of a new instance comes seconds later, once
// the instance has closed its idle connection (5 s): answered from here,
// it costs the customers' server no new backend (2.7–3.1 backends a new
// customer became 2.0; signups while customers accumulate went from
// 4.1–4.8/s to 5.9–7.6/s: docs/architecture.md). An answer stands while the
// activity token is the one it was read at — anything the instance does
// to its database moves the token — for statusCacheTTL, and within its
// quota period.
type statusCache struct {
	mu    sync.Mutex
	body  StatusBody
	until time.Time
}

// get returns the cached answer if it stands for activity at now.
func (c *statusCache) get(activity string, now time.Time) (StatusBody, bool) {
	if activity == "" {
		return StatusBody{}, false // no token, no way to tell it changed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body.Activity != activity || !now.Before(c.until) {
		return StatusBody{}, false
	}
	return c.body, true
}

// refresh reads /status now and caches it. A failed read is logged and
// caches nothing; what the cache held stays, and no longer stands (the
// delivery moved the token).
func (c *statusCache) refresh(ctx context.Context, o Options) {
	ctx = observe.Mark(ctx)
	activity := activityToken(o)
	if activity == "" {
		return
	}
	body, err := readStatus(ctx, o)
	if err != nil {
		o.Log.WarnContext(ctx, "status: cannot cache after the delivery", "err", err)
		return
	}
	body.Activity = activity
	now := o.Now()
	until := now.Add(statusCacheTTL)
	if end := body.Usage.PeriodEnd; !end.IsZero() && end.Before(until) {
		until = end
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body, c.until = body, until
}

// quotaBody is the quota part of /status and /api/usage.
func quotaBody(q quota.Status) QuotaBody {
	return QuotaBody{
		MonthlyMessages: q.Limit,
		Remaining:       q.Remaining(),
		Exceeded:        q.Exceeded(),
		ResetAt:         q.ResetAt,
		MonthlyTokens:   q.TokenLimit,
		TokensRemaining: q.TokensRemaining(),
		TokensExceeded:  q.TokensExceeded(),
	}
}

// engineName is the plan's engine, the runtime engine when unset.
func engineName(e string) string {
	if e == "" {
		return plans.EngineRuntime
	}
	return e
}
