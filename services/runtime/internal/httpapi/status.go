package httpapi

import (
	"net/http"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// StatusBody is the body of GET /status.
type StatusBody struct {
	CustomerID string    `json:"customer_id"`
	Plan       string    `json:"plan"`
	Usage      UsageBody `json:"usage"`
	Quota      QuotaBody `json:"quota"`
	Version    string    `json:"version"`
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

// QuotaBody is what the plan allows per period.
type QuotaBody struct {
	MonthlyMessages int64 `json:"monthly_messages"`
}

// Period returns the quota period containing t: the calendar month in UTC.
// (Quotas follow the calendar month for now, not the Stripe billing cycle.)
func Period(t time.Time) (start, end time.Time) {
	t = t.UTC()
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// status answers GET /status: the customer's usage this period against the
// plan's quota.
func status(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, end := Period(o.Now())
		u, err := customerdb.Usage(r.Context(), o.DB, start, end)
		if err != nil {
			o.Log.ErrorContext(r.Context(), "status: read usage", "err", err)
			respond.Error(w, http.StatusServiceUnavailable, "usage unavailable, try again")
			return
		}
		respond.JSON(w, http.StatusOK, StatusBody{
			CustomerID: o.CustomerID,
			Plan:       o.Plan.ID,
			Usage: UsageBody{
				Messages:     u.Messages,
				InputTokens:  u.InputTokens,
				OutputTokens: u.OutputTokens,
				PeriodStart:  start,
				PeriodEnd:    end,
			},
			Quota:   QuotaBody{MonthlyMessages: o.Plan.MonthlyMessages},
			Version: o.Version,
		})
	})
}
