package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/store"
)

// ErrNoToken reports an instance whose token is not in the secret store
// (an instance started by a compute service that does not issue tokens).
var ErrNoToken = errors.New("no instance token")

// Secrets reads secrets by reference; *secrets.Store satisfies it.
type Secrets interface {
	Get(ctx context.Context, ref string) ([]byte, error)
}

// Usage is the part of an instance's GET /status the quota notices need
// (services/runtime/internal/httpapi/status.go).
type Usage struct {
	Plan  string `json:"plan"`
	Usage struct {
		Messages    int64     `json:"messages"`
		PeriodStart time.Time `json:"period_start"`
	} `json:"usage"`
	Quota struct {
		MonthlyMessages int64     `json:"monthly_messages"`
		ResetAt         time.Time `json:"reset_at"`
	} `json:"quota"`
	// Channels is absent when no channel is connected.
	Channels struct {
		Telegram *struct {
			Broken       bool      `json:"broken"`
			BrokenReason string    `json:"broken_reason"`
			BrokenAt     time.Time `json:"broken_at"`
			BotUsername  string    `json:"bot_username"`
		} `json:"telegram"`
	} `json:"channels"`
	// Activity is the instance's activity token as of this answer.
	Activity string `json:"activity"`
}

// UsageReader reads instances' /status with their instance token.
type UsageReader struct {
	Client  *http.Client
	Secrets Secrets
	// IsNotFound tells a missing secret from a failing store.
	IsNotFound func(error) bool
}

// Read returns the usage the instance at instanceURL reports.
func (u *UsageReader) Read(ctx context.Context, customer, instanceURL string) (Usage, error) {
	var out Usage
	token, err := u.Secrets.Get(ctx, names.InstanceTokenRef(customer))
	if err != nil {
		if u.IsNotFound != nil && u.IsNotFound(err) {
			return out, ErrNoToken
		}
		return out, err
	}
	base, err := url.Parse(instanceURL)
	if err != nil {
		return out, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath("status").String(), nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	req.Header.Set("User-Agent", "clawdbot-health")
	resp, err := u.Client.Do(req)
	if err != nil {
		return out, fmt.Errorf("GET /status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("GET /status: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return out, fmt.Errorf("GET /status: %w", err)
	}
	return out, nil
}

// quotaLevels are the notices, highest first.
var quotaLevels = []struct {
	kind    string
	percent int64
}{{"quota_100", 100}, {"quota_80", 80}}

// QuotaNoticeID is the id of a quota notice: one per kind, customer and
// period (the month, from the instance's period start).
func QuotaNoticeID(kind, customer string, periodStart time.Time) string {
	return fmt.Sprintf("%s-%s-%s", kind, customer, periodStart.UTC().Format("2006-01"))
}

// quota publishes the highest quota notice the instance's usage reached
// this period, once. A customer who jumps past 100% gets only the 100%
// notice: the 80% one is marked done without being sent.
func (m *Monitor) quota(ctx context.Context, c store.Customer, now time.Time) (err error) {
	u, err := m.o.Usage.Read(ctx, c.ID, c.InstanceURL)
	if errors.Is(err, ErrNoToken) {
		return nil
	}
	if err != nil {
		return err
	}
	m.o.Metrics.StatusReads.WithLabelValues("read").Inc()
	// Only a read whose notices were all handled stands for the next
	// cycles; after a failure the next cycle reads again.
	defer func() {
		if err == nil {
			m.readAt(c.ID, u.Activity, now)
		}
	}()
	if err := m.channels(ctx, c, u, now); err != nil {
		return err
	}
	limit := u.Quota.MonthlyMessages
	if limit <= 0 {
		return nil // unlimited
	}
	period := u.Usage.PeriodStart
	if period.IsZero() {
		period = now
	}
	reached := false
	for _, l := range quotaLevels {
		if u.Usage.Messages*100 < l.percent*limit {
			continue
		}
		id := QuotaNoticeID(l.kind, c.ID, period)
		done, err := m.o.Store.QuotaNoticePublished(ctx, id)
		if err != nil {
			return err
		}
		if !done && !reached {
			plan := u.Plan
			if plan == "" {
				plan = c.Plan
			}
			notice := &pb.CustomerNotice{
				NoticeId: id, CustomerId: c.ID, Kind: l.kind, Email: c.Email, Name: c.Name,
				InstanceUrl: c.InstanceURL, Plan: plan, At: timestamppb.New(now),
				Details: map[string]string{
					"messages":         fmt.Sprint(u.Usage.Messages),
					"monthly_messages": fmt.Sprint(limit),
					"reset_at":         u.Quota.ResetAt.UTC().Format(time.RFC3339),
				},
			}
			if _, err := m.o.Bus.Publish(ctx, subjects.CustomerNotice, notice,
				bus.Envelope{MsgID: subjects.CustomerNotice + "-" + id, CustomerID: c.ID}); err != nil {
				return fmt.Errorf("publish %s: %w", id, err)
			}
		}
		if !done {
			if err := m.o.Store.RecordQuotaNotice(ctx, id, now); err != nil {
				return err
			}
		}
		reached = true
	}
	return nil
}

// TelegramBrokenNoticeID is the id of a broken-channel notice: one per
// breakage (the time the runtime recorded it), so a bot reconnected and
// broken again is told again.
func TelegramBrokenNoticeID(customer string, brokenAt time.Time) string {
	return fmt.Sprintf("telegram_broken-%s-%d", customer, brokenAt.Unix())
}

// channels tells the customer, once per breakage, that a channel their
// instance reports broken (a revoked Telegram bot token) stopped working.
// The notice ledger is the quota notices' (one table of published ids).
func (m *Monitor) channels(ctx context.Context, c store.Customer, u Usage, now time.Time) error {
	tg := u.Channels.Telegram
	if tg == nil || !tg.Broken || tg.BrokenAt.IsZero() {
		return nil
	}
	id := TelegramBrokenNoticeID(c.ID, tg.BrokenAt)
	done, err := m.o.Store.QuotaNoticePublished(ctx, id)
	if err != nil || done {
		return err
	}
	notice := &pb.CustomerNotice{
		NoticeId: id, CustomerId: c.ID, Kind: "telegram_broken", Email: c.Email, Name: c.Name,
		InstanceUrl: c.InstanceURL, Plan: c.Plan, At: timestamppb.New(now),
		Details: map[string]string{"bot_username": tg.BotUsername, "reason": tg.BrokenReason},
	}
	if _, err := m.o.Bus.Publish(ctx, subjects.CustomerNotice, notice,
		bus.Envelope{MsgID: subjects.CustomerNotice + "-" + id, CustomerID: c.ID}); err != nil {
		return fmt.Errorf("publish %s: %w", id, err)
	}
	return m.o.Store.RecordQuotaNotice(ctx, id, now)
}

// needsRead reports whether the quota check must read the instance's
// /status: always for an instance that sends no activity token; otherwise
// when the token moved since the last read (the instance did something:
// a turn, a channel's state) or the last read is StatusMaxAge old (what
// the instance cannot see change, such as a plan the workspace service
// wrote). Reading /status costs the customer's database a backend
// (~30 ms of its server's CPU); an idle instance is then read four times an
// hour instead of every cycle.
func (m *Monitor) needsRead(customer, activity string, now time.Time) bool {
	m.mu.Lock()
	last, ok := m.lastRead[customer]
	m.mu.Unlock()
	if ok && now.Before(last.retryAt) {
		// The last read failed: a read makes the instance open a backend
		// on its database, and under load the one that timed out still
		// cost the server that; reading again every cycle would feed the
		// load that made it fail.
		m.o.Metrics.StatusReads.WithLabelValues("deferred").Inc()
		return false
	}
	if activity == "" {
		return true
	}
	if ok && last.failures == 0 && last.activity == activity && now.Sub(last.at) < m.o.StatusMaxAge {
		m.o.Metrics.StatusReads.WithLabelValues("skipped").Inc()
		return false
	}
	return true
}

// readAt records a good read of customer's /status that carried activity
// (or none), which ends a run of failures.
func (m *Monitor) readAt(customer, activity string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if activity == "" {
		delete(m.lastRead, customer)
		return
	}
	m.lastRead[customer] = statusRead{activity: activity, at: now}
}

// readFailed records a failed read of customer's /status and returns how
// long the next one waits: StatusRetry, doubling with each failure in a
// row, at most StatusMaxAge.
func (m *Monitor) readFailed(customer string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.lastRead[customer]
	r.failures++
	wait := m.o.StatusRetry
	for i := 1; i < r.failures && wait < m.o.StatusMaxAge; i++ {
		wait *= 2
	}
	wait = min(wait, m.o.StatusMaxAge)
	r.failedAt, r.retryAt = now, now.Add(wait)
	m.lastRead[customer] = r
	return wait
}

// forgetOldReads drops reads older than StatusMaxAge (they no longer stand
// for anything), so customers who left do not stay in memory.
func (m *Monitor) forgetOldReads() {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.lastRead {
		if now.Sub(r.at) >= m.o.StatusMaxAge && now.Sub(r.failedAt) >= m.o.StatusMaxAge {
			delete(m.lastRead, id)
		}
	}
}
