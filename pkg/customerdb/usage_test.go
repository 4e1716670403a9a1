package customerdb

import (
	"testing"
	"time"
)

func TestUsage(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	jan1, feb1 := at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")

	if u, err := Usage(ctx, pool, jan1, feb1); err != nil || u != (UsageTotals{}) {
		t.Fatalf("Usage of an empty table = %+v, %v; want zeros", u, err)
	}
	for _, rec := range []struct {
		at string
		u  UsageTotals
	}{
		{"2025-12-31T23:59:59Z", UsageTotals{100, 100, 100}}, // December
		{"2026-01-01T00:00:00Z", UsageTotals{1, 10, 20}},
		{"2026-01-15T12:00:00Z", UsageTotals{2, 30, 40}},
		{"2026-01-15T18:00:00Z", UsageTotals{3, 50, 60}}, // same day: added up
		// 23:30 in New York on Jan 31 is Feb 1 in UTC: February.
		{"2026-01-31T23:30:00-05:00", UsageTotals{1000, 1000, 1000}},
		{"2026-02-01T00:00:00Z", UsageTotals{1000, 1000, 1000}},
	} {
		if err := AddUsage(ctx, pool, at(rec.at), rec.u); err != nil {
			t.Fatal(err)
		}
	}
	u, err := Usage(ctx, pool, jan1, feb1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (UsageTotals{Messages: 6, InputTokens: 90, OutputTokens: 120}); u != want {
		t.Errorf("January usage = %+v, want %+v", u, want)
	}
	days, err := DailyUsage(ctx, pool, jan1, feb1)
	if err != nil {
		t.Fatal(err)
	}
	want := []DayUsage{
		{at("2026-01-01T00:00:00Z"), UsageTotals{1, 10, 20}},
		{at("2026-01-15T00:00:00Z"), UsageTotals{5, 80, 100}},
	}
	if len(days) != len(want) {
		t.Fatalf("DailyUsage = %+v, want %+v", days, want)
	}
	for i := range want {
		if !days[i].Day.Equal(want[i].Day) || days[i].UsageTotals != want[i].UsageTotals {
			t.Errorf("day %d = %+v, want %+v", i, days[i], want[i])
		}
	}
}
