package googletest

import (
	"sort"
	"strconv"
	"time"
)

// Event is an event of the test calendar ("primary").
type Event struct {
	ID, Summary, Description, Location string
	Start, End                         time.Time
	// TimeZone is the zone the event was created in.
	TimeZone string
}

type calendar struct {
	events []*Event
	// zone is the calendar's own time zone.
	zone string
}

func (c *calendar) init() { c.zone = "UTC" }

// AddEvent puts an event in the primary calendar and returns its id.
func (s *Server) AddEvent(e Event) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = s.nextID("ev")
	if e.TimeZone == "" {
		e.TimeZone = "UTC"
	}
	s.calendar.events = append(s.calendar.events, &e)
	return e.ID
}

// Events returns the primary calendar's events.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.calendar.events))
	for i, e := range s.calendar.events {
		out[i] = *e
	}
	return out
}

type eventTime struct {
	DateTime string `json:"dateTime,omitempty"`
	Date     string `json:"date,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

type eventBody struct {
	Summary     *string    `json:"summary"`
	Description *string    `json:"description"`
	Location    *string    `json:"location"`
	Start       *eventTime `json:"start"`
	End         *eventTime `json:"end"`
}

func (t *eventTime) parse() (time.Time, string, error) {
	zone := t.TimeZone
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return time.Time{}, "", &apiErr{400, "Invalid time zone definition for start time."}
		}
		loc = l
	}
	switch {
	case t.DateTime != "":
		v, err := time.Parse(time.RFC3339, t.DateTime)
		if err != nil {
			// Without an offset the timeZone field says where it is.
			if zone == "" {
				return time.Time{}, "", &apiErr{400, "Missing time zone definition for start time."}
			}
			if v, err = time.ParseInLocation("2006-01-02T15:04:05", t.DateTime, loc); err != nil {
				return time.Time{}, "", &apiErr{400, "Invalid start time."}
			}
		}
		return v, zone, nil
	case t.Date != "":
		v, err := time.ParseInLocation(time.DateOnly, t.Date, loc)
		if err != nil {
			return time.Time{}, "", &apiErr{400, "Invalid start date."}
		}
		return v, zone, nil
	}
	return time.Time{}, "", &apiErr{400, "Start and end times must either both be date or both be dateTime."}
}

func (s *Server) events(req Request, body []byte) (any, error) {
	if req.Path["calendarId"] != "primary" && req.Path["calendarId"] != s.opts.Email {
		return nil, &apiErr{404, "Not Found"}
	}
	zone := s.calendar.zone
	if z := req.Query.Get("timeZone"); z != "" {
		if _, err := time.LoadLocation(z); err != nil {
			return nil, &apiErr{400, "Invalid time zone: " + z}
		}
		zone = z
	}
	switch req.ID {
	case "calendar.events.list":
		if req.Query.Get("orderBy") == "startTime" && req.Query.Get("singleEvents") != "true" {
			return nil, &apiErr{400, "The requested ordering is not available for the particular query."}
		}
		var lo, hi time.Time
		if v := req.Query.Get("timeMin"); v != "" {
			lo, _ = time.Parse(time.RFC3339, v)
		}
		if v := req.Query.Get("timeMax"); v != "" {
			hi, _ = time.Parse(time.RFC3339, v)
		}
		if !lo.IsZero() && !hi.IsZero() && !hi.After(lo) {
			return nil, &apiErr{400, "The specified time range is empty."}
		}
		limit := 250
		if v := req.Query.Get("maxResults"); v != "" {
			limit, _ = strconv.Atoi(v)
		}
		var items []map[string]any
		evs := append([]*Event(nil), s.calendar.events...)
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].Start.Before(evs[j].Start) })
		for _, e := range evs {
			// Overlap: the event ends after timeMin and starts before timeMax.
			if (!lo.IsZero() && !e.End.After(lo)) || (!hi.IsZero() && !e.Start.Before(hi)) {
				continue
			}
			if len(items) == limit {
				break
			}
			items = append(items, renderEvent(e, zone))
		}
		return map[string]any{"kind": "calendar#events", "summary": s.opts.Email, "timeZone": zone,
			"items": append([]map[string]any{}, items...)}, nil
	case "calendar.events.insert":
		var in eventBody
		if err := jsonUnmarshal(body, &in); err != nil {
			return nil, err
		}
		if in.Start == nil || in.End == nil {
			return nil, &apiErr{400, "Missing end time."}
		}
		e := &Event{}
		if err := applyEvent(e, in); err != nil {
			return nil, err
		}
		e.ID = s.nextID("ev")
		s.calendar.events = append(s.calendar.events, e)
		return renderEvent(e, e.TimeZone), nil
	case "calendar.events.patch", "calendar.events.get":
		var e *Event
		for _, x := range s.calendar.events {
			if x.ID == req.Path["eventId"] {
				e = x
			}
		}
		if e == nil {
			return nil, &apiErr{404, "Not Found"}
		}
		if req.ID == "calendar.events.patch" {
			var in eventBody
			if err := jsonUnmarshal(body, &in); err != nil {
				return nil, err
			}
			next := *e
			if err := applyEvent(&next, in); err != nil {
				return nil, err
			}
			*e = next
		}
		return renderEvent(e, e.TimeZone), nil
	}
	return nil, &apiErr{501, req.ID + " is not implemented by the test server"}
}

func applyEvent(e *Event, in eventBody) error {
	if in.Summary != nil {
		e.Summary = *in.Summary
	}
	if in.Description != nil {
		e.Description = *in.Description
	}
	if in.Location != nil {
		e.Location = *in.Location
	}
	if in.Start != nil {
		v, z, err := in.Start.parse()
		if err != nil {
			return err
		}
		e.Start = v
		if z != "" {
			e.TimeZone = z
		}
	}
	if in.End != nil {
		v, _, err := in.End.parse()
		if err != nil {
			return err
		}
		e.End = v
	}
	if e.TimeZone == "" {
		e.TimeZone = "UTC"
	}
	if !e.End.After(e.Start) {
		return &apiErr{400, "The specified time range is empty."}
	}
	return nil
}

// renderEvent answers an event with its times in zone, as the API does
// when asked for a timeZone.
func renderEvent(e *Event, zone string) map[string]any {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	return map[string]any{
		"kind": "calendar#event", "id": e.ID, "status": "confirmed", "summary": e.Summary,
		"description": e.Description, "location": e.Location,
		"start":    map[string]string{"dateTime": e.Start.In(loc).Format(time.RFC3339), "timeZone": e.TimeZone},
		"end":      map[string]string{"dateTime": e.End.In(loc).Format(time.RFC3339), "timeZone": e.TimeZone},
		"htmlLink": "https://calendar.google.com/calendar/event?eid=" + e.ID,
	}
}
