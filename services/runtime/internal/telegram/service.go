// Package telegram is the runtime's Telegram channel: the customer connects
// their own bot (a BotFather token, checked with getMe and stored sealed),
// pairs it with `/start <code>` from their Telegram account, and from then
// on their messages go through the same agent as /api/chat — memories,
// tools, quota and usage included — and the replies come back as plain-text
// Telegram messages.
//
// Updates arrive by long polling (getUpdates with an offset). Each update is
// recorded and the offset moved past it in one transaction before it is
// handled, so a restart neither repeats nor loses one; an update whose turn
// a restart cut short is not rerun — the owner is asked to send it again.
//
// An instance with a public https URL (Service.PublicURL) takes updates by
// webhook instead (webhook.go): setWebhook with a random path id and a
// random secret token (stored sealed like the bot token), and Deliver, the
// handler of Telegram's POSTs, checks both in constant time, records the
// update by update_id ('received', with its body) and answers at once; one
// worker then processes recorded updates in order exactly as polled ones.
// A redelivery records nothing; a crash before an update is begun leaves it
// received, processed at the next start.
// Anyone but the paired owner gets one polite refusal, and nothing of theirs
// reaches the model or the quota. A token Telegram refuses (401: revoked in
// BotFather, or the bot deleted) marks the channel broken with the reason,
// which GET /api/channels/telegram and the dashboard show.
package telegram

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"sync/atomic"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/chat"
)

// Errors of Connect the customer caused.
var (
	// ErrBadToken is a token that is not shaped like a BotFather token.
	ErrBadToken = errors.New("bot_token is not a BotFather token (<bot id>:<secret>)")
	// ErrTokenRefused is a token Telegram does not accept.
	ErrTokenRefused = errors.New("telegram refused this bot token: check it in BotFather")
	// ErrUnavailable is Telegram not answering getMe.
	ErrUnavailable = errors.New("telegram did not answer; try again")
	// ErrNoKey is an instance without the instance token the token is
	// sealed with.
	ErrNoKey = errors.New("this instance has no instance token to seal the bot token with")
)

// tokenPattern is a BotFather token: the bot's id, a colon, 35 characters
// (accepting 30–64 in case Telegram lengthens them).
var tokenPattern = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{30,64}$`)

// pairingAlphabet has no look-alikes (0/O, 1/I/L), the code being typed.
const pairingAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// pairingCodeLen gives 31^10 ≈ 8·10^14 codes.
const pairingCodeLen = 10

// State is the channel as the API shows it; never the token.
type State struct {
	Connected     bool       `json:"connected"`
	Paired        bool       `json:"paired"`
	BotUsername   string     `json:"bot_username,omitempty"`
	BotID         int64      `json:"bot_id,omitempty"`
	Mode          string     `json:"mode,omitempty"`
	ConnectedAt   *time.Time `json:"connected_at,omitempty"`
	LastMessageAt *time.Time `json:"last_message_at,omitempty"`
	Broken        bool       `json:"broken"`
	BrokenReason  string     `json:"broken_reason,omitempty"`
	BrokenAt      *time.Time `json:"broken_at,omitempty"`
	// WebhookDeliveries and WebhookRefused count, since the instance
	// started, the deliveries accepted and those refused (unknown path,
	// missing or wrong secret, malformed body). Webhook mode only.
	WebhookDeliveries *int64 `json:"webhook_deliveries,omitempty"`
	WebhookRefused    *int64 `json:"webhook_refused,omitempty"`
}

// Service is the channel of one instance: the API's Connect, State and
// Disconnect, and Run, the poller.
type Service struct {
	// DB is the customer's database.
	DB customerdb.TxBeginner
	// Chat runs the owner's turns (the /api/chat service).
	Chat *chat.Service
	// BaseURL is the Bot API root (DefaultBaseURL).
	BaseURL string
	// Sealer seals the token; nil when the instance has no instance token
	// (Connect then answers ErrNoKey).
	Sealer *Sealer
	// HTTP calls Telegram; its timeout must exceed PollTimeout.
	HTTP *http.Client
	// PollTimeout is getUpdates' long-poll timeout (25 s).
	PollTimeout time.Duration
	// PublicURL is the instance's public https base URL; set, the channel
	// runs in webhook mode (the caller checks the scheme).
	PublicURL string
	// Log receives events; never a token or message content.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time

	// reload wakes Run when the channel was connected or disconnected.
	reload chan struct{}
	// hook is the webhook's live state.
	hook *webhookState
}

// webhookState is what Deliver reads while the channel's loop serves.
type webhookState struct {
	// target is the webhook deliveries are checked against; nil while
	// none is served.
	target atomic.Pointer[webhookTarget]
	// Deliveries accepted and refused since start.
	delivered, refused atomic.Int64
}

// Mode is how the channel takes updates: "webhook" or "polling".
func (s *Service) Mode() string {
	if s.PublicURL != "" {
		return "webhook"
	}
	return "polling"
}

// NewService fills in defaults.
func NewService(s Service) *Service {
	if s.BaseURL == "" {
		s.BaseURL = DefaultBaseURL
	}
	if s.PollTimeout == 0 {
		s.PollTimeout = 25 * time.Second
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{Timeout: s.PollTimeout + 15*time.Second}
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.reload = make(chan struct{}, 1)
	s.hook = &webhookState{}
	return &s
}

func (s *Service) client(token string) *client {
	return &client{base: s.BaseURL, token: token, http: s.HTTP}
}

// Connect checks token with getMe, stores it sealed (replacing any bot)
// and returns the state with a new one-time pairing code.
func (s *Service) Connect(ctx context.Context, token string) (State, string, error) {
	if s.Sealer == nil {
		return State{}, "", ErrNoKey
	}
	if !tokenPattern.MatchString(token) {
		return State{}, "", ErrBadToken
	}
	me, err := s.client(token).getMe(ctx)
	switch {
	case Unauthorized(err):
		return State{}, "", ErrTokenRefused
	case err != nil:
		s.Log.Warn("telegram getMe failed", "err", err)
		return State{}, "", ErrUnavailable
	case !me.IsBot:
		return State{}, "", ErrTokenRefused
	}
	code := ""
	for range pairingCodeLen {
		code += string(pairingAlphabet[randIntn(len(pairingAlphabet))])
	}
	hash := pairingHash(code)
	s.dropWebhook(ctx)
	err = customerdb.PutTelegramChannel(ctx, s.DB, customerdb.TelegramChannel{
		TokenSealed: s.Sealer.Seal(token), BotID: me.ID, BotUsername: me.Username, PairingCodeHash: hash,
	})
	if err != nil {
		return State{}, "", err
	}
	s.Log.Info("telegram bot connected", "bot_id", me.ID, "bot_username", me.Username)
	s.wake()
	st, err := s.State(ctx)
	return st, code, err
}

// State reads the channel's state.
func (s *Service) State(ctx context.Context) (State, error) {
	ch, err := customerdb.GetTelegramChannel(ctx, s.DB)
	if errors.Is(err, customerdb.ErrNoTelegramChannel) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	st := State{Connected: true, Paired: ch.Paired(), BotUsername: ch.BotUsername, BotID: ch.BotID,
		Mode: s.Mode(), ConnectedAt: &ch.ConnectedAt, Broken: ch.BrokenReason != "", BrokenReason: ch.BrokenReason}
	if !ch.LastMessageAt.IsZero() {
		st.LastMessageAt = &ch.LastMessageAt
	}
	if !ch.BrokenAt.IsZero() {
		st.BrokenAt = &ch.BrokenAt
	}
	if s.PublicURL != "" {
		delivered, refused := s.hook.delivered.Load(), s.hook.refused.Load()
		st.WebhookDeliveries, st.WebhookRefused = &delivered, &refused
	}
	return st, nil
}

// Disconnect forgets the bot; it reports whether one was connected. The
// bot itself stays the customer's (in BotFather).
func (s *Service) Disconnect(ctx context.Context) (bool, error) {
	s.dropWebhook(ctx)
	ok, err := customerdb.DeleteTelegramChannel(ctx, s.DB)
	if err != nil {
		return false, err
	}
	if ok {
		s.Log.Info("telegram bot disconnected")
	}
	s.wake()
	return ok, nil
}

// dropWebhook deletes the stored bot's webhook at Telegram before the bot
// is disconnected or replaced, so Telegram stops POSTing to a path that
// will answer 404. Best effort: a revoked token cannot, and needs not.
func (s *Service) dropWebhook(ctx context.Context) {
	if s.Sealer == nil {
		return // no token was ever opened here, so no webhook set
	}
	ch, err := customerdb.GetTelegramChannel(ctx, s.DB)
	if err != nil || (ch.WebhookURL == "" && s.PublicURL == "") {
		return
	}
	token, err := s.Sealer.Open(ch.TokenSealed)
	if err != nil {
		return
	}
	if err := s.client(token).deleteWebhook(ctx); err != nil && !Unauthorized(err) {
		s.Log.Warn("telegram: delete webhook", "bot_id", ch.BotID, "err", err)
	}
}

// wake tells Run to reload the channel.
func (s *Service) wake() {
	select {
	case s.reload <- struct{}{}:
	default:
	}
}

// pairingHash is what the database keeps of a pairing code.
func pairingHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// randIntn is a uniform random int in [0, n) from crypto/rand.
func randIntn(n int) int {
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		// Reject the top of the byte range so every value is as likely.
		if limit := 256 - 256%n; int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
