package google

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/prompt"
	"clawdbot.cloud/services/runtime/internal/tools"
)

// Bounds of the calendar tools.
const (
	maxEvents = 50
	maxRange  = 62 * 24 * time.Hour
)

// localLayout is how times go to and from the model: the customer's local
// wall clock, no offset to get wrong.
const localLayout = "2006-01-02T15:04"

func (c *Client) calendarTools() []tools.Tool {
	return []tools.Tool{
		{Skill: plans.SkillCalendar, Run: c.calendarList, Spec: llm.ToolSpec{Name: "calendar_list",
			Description: "List the customer's calendar events from one local time to another (YYYY-MM-DDTHH:MM or YYYY-MM-DD, in the customer's timezone; default: now to 7 days on). Times in the answer are local too.",
			Schema:      tools.Schema(`{"from":{"type":"string"},"to":{"type":"string"}}`)}},
		{Skill: plans.SkillCalendar, Run: c.calendarCreate, Spec: llm.ToolSpec{Name: "calendar_create",
			Description: "Create an event in the customer's calendar. start and end are local times (YYYY-MM-DDTHH:MM); end defaults to an hour after start.",
			Schema:      tools.Schema(`{"summary":{"type":"string"},"start":{"type":"string"},"end":{"type":"string"},"description":{"type":"string"},"location":{"type":"string"}}`, "summary", "start")}},
		{Skill: plans.SkillCalendar, Run: c.calendarMove, Spec: llm.ToolSpec{Name: "calendar_move",
			Description: "Move an event (its id from calendar_list) to a new local start time (YYYY-MM-DDTHH:MM); it keeps its length unless end is given.",
			Schema:      tools.Schema(`{"event_id":{"type":"string"},"start":{"type":"string"},"end":{"type":"string"}}`, "event_id", "start")}},
	}
}

// Tools returns the Gmail and Calendar tools.
func (c *Client) Tools() []tools.Tool {
	return append(c.mailTools(), c.calendarTools()...)
}

// zone is the customer's timezone, from USER.md as the workspace wrote it.
func (c *Client) zone(ctx context.Context) (*time.Location, error) {
	files, err := customerdb.ReadFiles(ctx, c.o.DB, "USER.md")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		return prompt.Timezone(f.Content), nil
	}
	return time.UTC, nil
}

func parseLocal(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{localLayout, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a local time (YYYY-MM-DDTHH:MM)", tools.ErrBadInput, s)
}

type eventTime struct {
	DateTime string `json:"dateTime,omitempty"`
	Date     string `json:"date,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

type event struct {
	ID       string    `json:"id,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Location string    `json:"location,omitempty"`
	Desc     string    `json:"description,omitempty"`
	Start    eventTime `json:"start"`
	End      eventTime `json:"end"`
}

func (e event) line(loc *time.Location) string {
	when := func(t eventTime) string {
		if t.Date != "" {
			return t.Date + " (all day)"
		}
		v, err := time.Parse(time.RFC3339, t.DateTime)
		if err != nil {
			return t.DateTime
		}
		return v.In(loc).Format("Mon 2006-01-02 15:04")
	}
	s := fmt.Sprintf("id %s | %s → %s | %s", e.ID, when(e.Start), when(e.End), oneLine(e.Summary))
	if e.Location != "" {
		s += " | at " + oneLine(e.Location)
	}
	return s
}

func at(t time.Time, loc *time.Location) eventTime {
	return eventTime{DateTime: t.In(loc).Format(time.RFC3339), TimeZone: loc.String()}
}

func (c *Client) calendarList(ctx context.Context, call tools.Call) (string, error) {
	var in struct{ From, To string }
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	loc, err := c.zone(ctx)
	if err != nil {
		return "", err
	}
	from, to := call.Now.In(loc), call.Now.In(loc).Add(7*24*time.Hour)
	if in.From != "" {
		if from, err = parseLocal(in.From, loc); err != nil {
			return "", err
		}
		to = from.Add(24 * time.Hour)
	}
	if in.To != "" {
		if to, err = parseLocal(in.To, loc); err != nil {
			return "", err
		}
		if len(strings.TrimSpace(in.To)) == len(time.DateOnly) {
			to = to.AddDate(0, 0, 1) // a date "to" includes that day
		}
	}
	if !to.After(from) || to.Sub(from) > maxRange {
		return "", fmt.Errorf("%w: to must be after from, at most 62 days later", tools.ErrBadInput)
	}
	q := url.Values{"timeMin": {from.Format(time.RFC3339)}, "timeMax": {to.Format(time.RFC3339)},
		"timeZone": {loc.String()}, "singleEvents": {"true"}, "orderBy": {"startTime"}, "maxResults": {fmt.Sprint(maxEvents)}}
	var list struct {
		Items []event `json:"items"`
	}
	if err := c.api(ctx, http.MethodGet, c.calendarURL("events"), q, nil, &list); err != nil {
		return "", err
	}
	head := fmt.Sprintf("Events from %s to %s (%s):\n", from.Format("Mon 2006-01-02 15:04"), to.Format("Mon 2006-01-02 15:04"), loc)
	if len(list.Items) == 0 {
		return head + "none", nil
	}
	var out strings.Builder
	out.WriteString(head)
	for _, e := range list.Items {
		out.WriteString("- " + e.line(loc) + "\n")
	}
	return out.String(), nil
}

func (c *Client) calendarCreate(ctx context.Context, call tools.Call) (string, error) {
	var in struct{ Summary, Start, End, Description, Location string }
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	if s := strings.TrimSpace(in.Summary); s == "" || len(s) > 500 {
		return "", fmt.Errorf("%w: summary must be 1 to 500 characters", tools.ErrBadInput)
	}
	loc, err := c.zone(ctx)
	if err != nil {
		return "", err
	}
	start, end, err := span(in.Start, in.End, time.Hour, loc)
	if err != nil {
		return "", err
	}
	body := event{Summary: in.Summary, Desc: in.Description, Location: in.Location, Start: at(start, loc), End: at(end, loc)}
	var out event
	if err := c.api(ctx, http.MethodPost, c.calendarURL("events"), nil, body, &out); err != nil {
		return "", err
	}
	return "Created: " + out.line(loc), nil
}

func (c *Client) calendarMove(ctx context.Context, call tools.Call) (string, error) {
	var in struct {
		EventID    string `json:"event_id"`
		Start, End string
	}
	if err := tools.Decode(call.Input, &in); err != nil {
		return "", err
	}
	if in.EventID == "" || len(in.EventID) > 1024 {
		return "", fmt.Errorf("%w: event_id is required", tools.ErrBadInput)
	}
	loc, err := c.zone(ctx)
	if err != nil {
		return "", err
	}
	u := c.calendarURL("events/" + url.PathEscape(in.EventID))
	var cur event
	if err := c.api(ctx, http.MethodGet, u, nil, nil, &cur); err != nil {
		return "", err
	}
	length := time.Hour
	s0, err1 := time.Parse(time.RFC3339, cur.Start.DateTime)
	e0, err2 := time.Parse(time.RFC3339, cur.End.DateTime)
	if err1 == nil && err2 == nil {
		length = e0.Sub(s0)
	}
	start, end, err := span(in.Start, in.End, length, loc)
	if err != nil {
		return "", err
	}
	var out event
	if err := c.api(ctx, http.MethodPatch, u, nil, map[string]any{"start": at(start, loc), "end": at(end, loc)}, &out); err != nil {
		return "", err
	}
	return "Moved: " + out.line(loc), nil
}

// span reads a local start and optional end (else start+length).
func span(startS, endS string, length time.Duration, loc *time.Location) (time.Time, time.Time, error) {
	start, err := parseLocal(startS, loc)
	if err != nil {
		return start, start, err
	}
	end := start.Add(length)
	if endS != "" {
		if end, err = parseLocal(endS, loc); err != nil {
			return start, end, err
		}
	}
	if !end.After(start) || end.Sub(start) > 14*24*time.Hour {
		return start, end, fmt.Errorf("%w: end must be after start, within 14 days", tools.ErrBadInput)
	}
	return start, end, nil
}
