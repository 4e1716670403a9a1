package runtime

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/telegram"
)

// newTelegram builds the instance's Telegram channel. Without an instance
// token there is no key to seal a bot token with: the channel then refuses
// to connect (503) but the instance serves everything else.
func newTelegram(cfg Config, pool *pgxpool.Pool, c *chat.Service, opts Options, log *slog.Logger) (*telegram.Service, error) {
	base := cfg.Env.TelegramBaseURL
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("TELEGRAM_API_BASE_URL %q: want an http(s) URL", base)
		}
	}
	var sealer *telegram.Sealer
	if cfg.InstanceToken != "" {
		var err error
		if sealer, err = telegram.NewSealer(cfg.InstanceToken); err != nil {
			return nil, err
		}
	}
	// Webhook mode needs a public https URL (Telegram delivers to nothing
	// else); an http one (a local instance) polls.
	public := ""
	if cfg.WebhookMode() {
		public = cfg.PublicURL
	}
	return telegram.NewService(telegram.Service{
		DB: pool, Chat: c, BaseURL: base, Sealer: sealer, PollTimeout: opts.TelegramPollTimeout,
		PublicURL: public, Log: log, Now: opts.Now,
	}), nil
}
