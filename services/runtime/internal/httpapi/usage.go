package httpapi

import (
	"net/http"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/quota"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// UsageDays is the answer to GET /api/usage: this period's usage per UTC
// day (every day of the period so far, zeros included, so a chart needs no
// gap filling) and the quota.
type UsageDays struct {
	PeriodStart time.Time   `json:"period_start"`
	PeriodEnd   time.Time   `json:"period_end"`
	Days        []DayBody   `json:"days"`
	Total       UsageBody   `json:"total"`
	Quota       QuotaBody   `json:"quota"`
	Storage     StorageBody `json:"storage"`
}

// StorageBody is what the customer's memories and conversations hold
// against the plan's storage cap.
type StorageBody struct {
	UsedBytes  int64 `json:"used_bytes"`
	LimitBytes int64 `json:"limit_bytes"`
}

// DayBody is one day's usage.
type DayBody struct {
	Day          string `json:"day"`
	Messages     int64  `json:"messages"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
}

// usage answers GET /api/usage.
func usage(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := o.Now()
		// The plan as the platform last recorded it (a plan change needs no
		// restart), as /status reads it.
		plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
		if err != nil {
			internalError(w, o, "read plan", err)
			return
		}
		q, err := quota.Read(r.Context(), o.DB, plan, now)
		if err != nil {
			internalError(w, o, "read usage", err)
			return
		}
		days, err := customerdb.DailyUsage(r.Context(), o.DB, q.Start, now.Add(24*time.Hour))
		if err != nil {
			internalError(w, o, "read daily usage", err)
			return
		}
		st, err := customerdb.ReadStorage(r.Context(), o.DB)
		if err != nil {
			internalError(w, o, "read storage", err)
			return
		}
		byDay := make(map[string]customerdb.UsageTotals, len(days))
		for _, d := range days {
			byDay[d.Day.Format(time.DateOnly)] = d.UsageTotals
		}
		out := UsageDays{
			PeriodStart: q.Start,
			PeriodEnd:   q.ResetAt,
			Days:        []DayBody{},
			Total: UsageBody{Messages: q.Used.Messages, InputTokens: q.Used.InputTokens, OutputTokens: q.Used.OutputTokens,
				PeriodStart: q.Start, PeriodEnd: q.ResetAt},
			Quota:   quotaBody(q),
			Storage: StorageBody{UsedBytes: st.UsedBytes, LimitBytes: st.LimitBytes},
		}
		for d := q.Start.UTC(); !d.After(now.UTC()) && d.Before(q.ResetAt); d = d.AddDate(0, 0, 1) {
			k := d.Format(time.DateOnly)
			u := byDay[k]
			out.Days = append(out.Days, DayBody{Day: k, Messages: u.Messages, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens})
		}
		respond.JSON(w, http.StatusOK, out)
	})
}
