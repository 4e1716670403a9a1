// Package render turns a customer's checkout details and plan into the files
// of their OpenClaw workspace: the Markdown files the agent reads at the start
// of every session, the first daily memory note, one SKILL.md per skill the
// plan grants, and the gateway configuration openclaw.json.
//
// Rendering is pure: no I/O, no clock, no randomness. The same Input always
// yields byte-identical files in the same order, so re-rendering is
// idempotent and delivery can compare content before writing.
//
// User-supplied text (name, email, timezone) only ever reaches Markdown, as
// one escaped line of bounded length placed after a label, never at the start
// of a line. YAML frontmatter and openclaw.json are built from the plan alone,
// through encoding/json, so no customer input can alter their structure.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"text/template"
	"time"
	"unicode/utf16"

	"clawdbot.cloud/pkg/plans"
)

// ConfigPath is the path of the gateway configuration among the rendered
// files. OpenClaw reads it from its state directory (~/.openclaw/openclaw.json),
// not from the workspace, so delivery places it there.
const ConfigPath = "openclaw.json"

// WorkspaceDir is the workspace directory written into openclaw.json
// (agents.defaults.workspace, OpenClaw's default location). Every rendered
// path other than ConfigPath is relative to it.
const WorkspaceDir = "~/.openclaw/workspace"

// maxFileChars is OpenClaw's per-file injection limit (bootstrapMaxChars),
// counted like JavaScript string length, in UTF-16 code units. A file longer
// than this would be cut off silently in the agent's context.
const maxFileChars = 20_000

// ErrInvalidInput is returned by Render when the input cannot produce a
// workspace: a zero time or an incomplete or unknown plan. It is a permanent
// error; retrying the same input cannot succeed.
var ErrInvalidInput = errors.New("invalid render input")

// Input is everything a workspace is rendered from.
type Input struct {
	// CustomerID is the platform customer id (the Stripe cus_... id). It only
	// appears in error messages; no file depends on it.
	CustomerID string
	// Name is the customer's full name as typed at checkout. It may be empty,
	// very long or hostile; it is cleaned and escaped before use.
	Name string
	// Email is the customer's email address from checkout, treated like Name.
	Email string
	// Timezone is the IANA zone name from checkout (e.g. "Europe/Berlin"). An
	// empty or unknown zone renders as UTC, and USER.md asks the agent to
	// confirm it, rather than failing the customer's provisioning.
	Timezone string
	// Plan is the customer's plan; its skills decide the skills/ folders.
	Plan plans.Plan
	// Now is the moment of rendering; its date in Timezone names the first
	// daily note.
	Now time.Time
}

// File is one rendered file: a slash-separated path relative to the
// workspace (ConfigPath excepted, see there) and its full content.
type File struct {
	// Path is the slash-separated relative path, e.g. "skills/gmail/SKILL.md".
	Path string
	// Content is the complete file content, UTF-8 encoded.
	Content string
}

// page is one workspace Markdown file rendered from a template.
type page struct {
	template string
	path     func(d pageData) string
}

// pages lists the workspace Markdown files in their output order.
var pages = []page{
	{"AGENTS.md.tmpl", fixed("AGENTS.md")},
	{"SOUL.md.tmpl", fixed("SOUL.md")},
	{"USER.md.tmpl", fixed("USER.md")},
	{"IDENTITY.md.tmpl", fixed("IDENTITY.md")},
	{"TOOLS.md.tmpl", fixed("TOOLS.md")},
	{"HEARTBEAT.md.tmpl", fixed("HEARTBEAT.md")},
	{"BOOTSTRAP.md.tmpl", fixed("BOOTSTRAP.md")},
	{"MEMORY.md.tmpl", fixed("MEMORY.md")},
	{"daily.md.tmpl", func(d pageData) string { return "memory/" + d.Date + ".md" }},
}

func fixed(path string) func(pageData) string {
	return func(pageData) string { return path }
}

// Render produces the customer's complete workspace, in this order:
// AGENTS.md, SOUL.md, USER.md, IDENTITY.md, TOOLS.md, HEARTBEAT.md,
// BOOTSTRAP.md, MEMORY.md, memory/<today>.md, skills/<name>/SKILL.md for each
// skill of the plan (in plan order), then openclaw.json.
//
// Any name, email or timezone renders; errors (wrapping ErrInvalidInput) come
// only from a zero or out-of-range Now or an unusable plan.
func Render(in Input) ([]File, error) {
	if err := validate(in); err != nil {
		return nil, fmt.Errorf("render workspace for customer %q: %w", in.CustomerID, err)
	}
	data := newPageData(in)
	files := make([]File, 0, len(pages)+len(in.Plan.Skills)+1)
	for _, p := range pages {
		var buf bytes.Buffer
		if err := workspaceTemplates.ExecuteTemplate(&buf, p.template, data); err != nil {
			return nil, fmt.Errorf("render workspace for customer %q: execute %s: %w", in.CustomerID, p.template, err)
		}
		files = append(files, File{Path: p.path(data), Content: buf.String()})
	}
	files = append(files, SkillFiles(in)...)
	for _, f := range files {
		if n := utf16Len(f.Content); n > maxFileChars {
			return nil, fmt.Errorf("render workspace for customer %q: %s is %d characters, over OpenClaw's limit of %d",
				in.CustomerID, f.Path, n, maxFileChars)
		}
	}
	return files, nil
}

// workspaceTemplates holds the workspace Markdown templates. They are
// compiled into the binary, so a parse failure is a build defect that every
// test run reports at once.
var workspaceTemplates = template.Must(
	template.New("workspace").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"),
)

// modelID is the shape of an Anthropic model id.
var modelID = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]{0,99}$`)

// validate reports why in cannot be rendered, or nil.
func validate(in Input) error {
	var errs []error
	if in.Now.IsZero() {
		errs = append(errs, errors.New("time of rendering is zero"))
	} else if y := in.Now.UTC().Year(); y < 2000 || y > 9999 {
		errs = append(errs, fmt.Errorf("time of rendering %s is out of range", in.Now.UTC().Format(time.RFC3339)))
	}
	if in.Plan.ID == "" {
		errs = append(errs, errors.New("plan has no id"))
	}
	if !modelID.MatchString(in.Plan.Model) {
		errs = append(errs, fmt.Errorf("plan %q has an invalid model %q", in.Plan.ID, in.Plan.Model))
	}
	seen := make(map[string]bool, len(in.Plan.Skills))
	for _, s := range in.Plan.Skills {
		switch {
		case seen[s]:
			errs = append(errs, fmt.Errorf("plan %q lists skill %q twice", in.Plan.ID, s))
		case !knownSkill(s):
			errs = append(errs, fmt.Errorf("plan %q grants skill %q, which has no SKILL.md template", in.Plan.ID, s))
		}
		seen[s] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidInput, errors.Join(errs...))
	}
	return nil
}

// utf16Len counts s the way OpenClaw (JavaScript) measures string length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
