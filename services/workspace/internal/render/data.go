package render

import (
	"strconv"
	"strings"
	"time"

	// The customer's timezone decides the date of their first daily note.
	// Embedding the zone database keeps that right in minimal container
	// images that ship no /usr/share/zoneinfo.
	_ "time/tzdata"

	"clawdbot.cloud/pkg/plans"
)

// Bounds on user-supplied text, in runes. Generous for real names and
// addresses (RFC 5321 caps a path at 254 octets), small enough that no
// rendered file nears OpenClaw's per-file limit.
const (
	maxNameRunes      = 100
	maxFirstNameRunes = 40
	maxEmailRunes     = 254
)

// pageData is what the workspace templates see. Every string in it is safe to
// place inline in Markdown after a label: user-supplied values are cleaned to
// one line and escaped; the rest comes from the plan and the clock.
type pageData struct {
	// Name is the customer's full name, escaped; empty if none was given.
	Name string
	// FirstName is what to call them: the first word of Name, escaped.
	FirstName string
	// Who is how templates refer to the customer: FirstName, or a neutral
	// phrase when there is no name.
	Who string
	// Email is the customer's email address, escaped; empty if none was given.
	Email string
	// Timezone is a valid IANA zone name ("UTC" when none was usable).
	Timezone string
	// TimezoneFromCheckout reports whether Timezone came from checkout (false
	// means it is the UTC fallback and the agent should ask).
	TimezoneFromCheckout bool
	// Date is today in Timezone, YYYY-MM-DD.
	Date string
	// Plan describes the plan at the time of rendering.
	Plan planData
}

// planData is the plan as the templates present it.
type planData struct {
	Name     string
	Messages string // monthly message allowance, e.g. "20,000"
	Agents   string // agent limit, e.g. "3" or "unlimited"
	Model    string
	Skills   []string
}

func newPageData(in Input) pageData {
	name := oneLine(in.Name, maxNameRunes)
	first := ""
	if fields := strings.Fields(name); len(fields) > 0 {
		first = truncate(fields[0], maxFirstNameRunes)
	}
	loc, fromCheckout := location(in.Timezone)
	d := pageData{
		Name:                 markdownInline(name),
		FirstName:            markdownInline(first),
		Who:                  markdownInline(first),
		Email:                markdownInline(oneLine(in.Email, maxEmailRunes)),
		Timezone:             loc.String(),
		TimezoneFromCheckout: fromCheckout,
		Date:                 in.Now.In(loc).Format(time.DateOnly),
		Plan: planData{
			Name:     markdownInline(oneLine(in.Plan.Name, maxNameRunes)),
			Messages: thousands(in.Plan.MonthlyMessages),
			Agents:   agents(in.Plan.MaxAgents),
			Model:    in.Plan.Model,
			Skills:   in.Plan.Skills,
		},
	}
	if d.Who == "" {
		d.Who = "the person you're helping"
	}
	return d
}

// agents describes an agent limit for people.
func agents(max int) string {
	if max == plans.UnlimitedAgents {
		return "unlimited"
	}
	return strconv.Itoa(max)
}

// thousands formats n with comma thousands separators: 100000 → "100,000".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
