// Package plans is the platform's single catalog of subscription plans: price,
// message quota, agent limit, skills, compute size, trial length and model.
//
// Every service that needs to know what a plan grants (checkout, the saga,
// compute sizing, workspace rendering, quota enforcement) reads it from here,
// so a plan is changed in exactly one place.
//
// Plan ids are the exact lowercase strings "starter", "pro" and "team".
// Lookup does not trim or fold case: ids reach us from Stripe metadata and
// events that the platform itself writes, so an id in any other spelling is a
// bug upstream and is reported as ErrUnknownPlan instead of being papered over.
package plans

import (
	"errors"
	"fmt"
	"slices"
)

// ErrUnknownPlan is returned by Lookup for an id that is not in the catalog.
var ErrUnknownPlan = errors.New("unknown plan")

// Plan ids, exactly as they appear in Stripe metadata, events and the database.
const (
	// Starter is the entry plan: chat, memory and web search.
	Starter = "starter"
	// Pro adds Gmail, Calendar and a browser to Starter.
	Pro = "pro"
	// Team grants every skill and unlimited agents.
	Team = "team"
)

// Engines: what serves a customer's instance. The platform's own runtime is
// always the front door (keys, quotas, usage, /status, the OpenAI-compatible
// and memory APIs); on EngineOpenClaw it also runs the real OpenClaw gateway
// beside itself and forwards chat to it (services/runtime/internal/openclaw).
const (
	// EngineRuntime answers chat with the platform's own agent loop
	// (~20 MB idle, ready in well under a second).
	EngineRuntime = "runtime"
	// EngineOpenClaw answers chat with a real OpenClaw gateway the runtime
	// supervises (~1.1 GB idle, ~10–45 s to get ready).
	EngineOpenClaw = "openclaw"
)

// MinOpenClawMemoryMB is the least instance memory the OpenClaw engine runs
// in: the gateway and its helpers hold about 1.1–1.3 GB idle, and
// out-of-memory restarts are its best-known failure.
const MinOpenClawMemoryMB = 2048

// ErrUnknownEngine is returned for an engine that is neither EngineRuntime
// nor EngineOpenClaw.
var ErrUnknownEngine = errors.New("unknown engine")

// ErrEngineTooSmall is returned when a plan's instance is too small for the
// engine asked of it.
var ErrEngineTooSmall = errors.New("plan too small for engine")

// Skill names, as used for workspace skill folders (skills/<name>/SKILL.md)
// and OpenClaw config keys. They are lowercase and hyphenated, as OpenClaw
// expects of skill names.
const (
	// SkillChat is everyday conversation and writing help.
	SkillChat = "chat"
	// SkillMemory is long-term memory kept in the workspace's Markdown files.
	SkillMemory = "memory"
	// SkillWebSearch is looking things up on the web, with sources.
	SkillWebSearch = "web-search"
	// SkillGmail is reading, searching and drafting email in Gmail.
	SkillGmail = "gmail"
	// SkillCalendar is reading and proposing calendar events.
	SkillCalendar = "calendar"
	// SkillBrowser is driving a real browser for pages a search cannot reach.
	SkillBrowser = "browser"
	// SkillSlack is reading and posting in the customer's Slack workspace.
	SkillSlack = "slack"
	// SkillGitHub is working with issues, pull requests and repositories on GitHub.
	SkillGitHub = "github"
	// SkillDocuments is reading, summarising and drafting documents (PDF, Office, Markdown).
	SkillDocuments = "documents"
)

// UnlimitedAgents is the MaxAgents value of a plan without an agent limit.
const UnlimitedAgents = 0

// Plan is what one subscription plan grants. Values returned by this package
// are copies; changing one does not change the catalog.
type Plan struct {
	// ID is the stable lowercase plan id ("starter", "pro", "team").
	ID string
	// Name is the plan's display name.
	Name string
	// PriceCents is the monthly price in US cents.
	PriceCents int64
	// MonthlyMessages is the number of chat messages included per month.
	MonthlyMessages int64
	// MonthlyTokens is the model tokens (input plus output, every model
	// call of every turn) included per month; a turn is refused once they
	// are spent, whatever messages are left.
	MonthlyTokens int64
	// StorageBytes caps what the customer's memories and conversations
	// (messages, tool calls, screenshots) may hold in their database; a
	// write past it is refused (customerdb's storage trigger).
	StorageBytes int64
	// MaxAgents is the number of agents a customer may run; UnlimitedAgents (0) means no limit.
	MaxAgents int
	// Skills lists the skills the plan grants, in display order.
	Skills []string
	// VCPUs is the compute size of the customer's instance, in virtual CPUs.
	VCPUs float64
	// MemoryMB is the memory of the customer's instance, in MiB.
	MemoryMB int
	// TrialDays is the length of the free trial that precedes the first charge.
	TrialDays int
	// Model is the Anthropic model id the customer's assistant uses by default
	// (without a provider prefix, e.g. "claude-sonnet-4-5").
	Model string
	// Engine is what answers chat by default (EngineRuntime or
	// EngineOpenClaw); the operator may switch a plan that is big enough
	// with WithEngine (the runtime's RUNTIME_ENGINES setting).
	Engine string
}

// starterSkills are granted by every plan; each larger plan extends the one below.
var (
	starterSkills = []string{SkillChat, SkillMemory, SkillWebSearch}
	proSkills     = append(slices.Clone(starterSkills), SkillGmail, SkillCalendar, SkillBrowser)
	teamSkills    = append(slices.Clone(proSkills), SkillSlack, SkillGitHub, SkillDocuments)
)

// catalog holds the plans in ascending price order. Never hand out its slices:
// All and Lookup return deep copies.
//
// Model choice: Starter runs the fast, inexpensive Haiku model so its price
// covers a 5,000-message quota; Pro and Team run Sonnet, the stronger model,
// for tool-heavy work (mail, calendar, browser, GitHub). Compute sizes are
// what the platform's own runtime needs; the real OpenClaw gateway needs about
// 2 GB (see docs), which only Team reaches.
//
// Engines: every plan runs on the platform's runtime by default, Team
// included. Team is the one plan big enough for the OpenClaw engine
// (MinOpenClawMemoryMB); the operator turns it on with the runtimes'
// RUNTIME_ENGINES=team=openclaw (docs/openclaw-engine.md), so each Team
// instance costs ~1.1 GB instead of ~20 MB only where the operator chose it.
//
// Token budgets: a turn's tokens are mostly input (the workspace prompt of
// up to ~15,000 tokens, history, memories, and every tool step resending
// them), so a blended price of about 90% input and 10% output is assumed:
// Haiku 4.5 ($1 in, $5 out per million) about $1.40 per million, Sonnet 4.5
// ($3 in, $15 out) about $4.20 per million. Each budget keeps the worst
// case model cost near half the plan's price, the rest paying for compute,
// the database and margin: Starter 10M tokens ≈ $14 of $29 (2,000 tokens a
// message over its 5,000), Pro 10M ≈ $42 of $79, Team 25M ≈ $105 of $199.
// Pro buys fewer tokens per dollar than Starter because Sonnet costs three
// times Haiku; a Pro customer who chats lightly still gets 20,000 messages.
var catalog = []Plan{
	{
		ID:              Starter,
		Name:            "Starter",
		PriceCents:      2900,
		MonthlyMessages: 5_000,
		StorageBytes:    256 << 20,
		MonthlyTokens:   10_000_000,
		MaxAgents:       3,
		Skills:          starterSkills,
		VCPUs:           0.5,
		MemoryMB:        512,
		TrialDays:       14,
		Model:           "claude-haiku-4-5",
		Engine:          EngineRuntime,
	},
	{
		ID:              Pro,
		Name:            "Pro",
		PriceCents:      7900,
		MonthlyMessages: 20_000,
		StorageBytes:    1 << 30,
		MonthlyTokens:   10_000_000,
		MaxAgents:       10,
		Skills:          proSkills,
		VCPUs:           1,
		MemoryMB:        1024,
		TrialDays:       14,
		Model:           "claude-sonnet-4-5",
		Engine:          EngineRuntime,
	},
	{
		ID:              Team,
		Name:            "Team",
		PriceCents:      19900,
		MonthlyMessages: 100_000,
		StorageBytes:    4 << 30,
		MonthlyTokens:   25_000_000,
		MaxAgents:       UnlimitedAgents,
		Skills:          teamSkills,
		VCPUs:           2,
		MemoryMB:        2048,
		TrialDays:       14,
		Model:           "claude-sonnet-4-5",
		Engine:          EngineRuntime,
	},
}

// WithEngine returns p running on engine: an error wrapping
// ErrUnknownEngine for an engine that does not exist, or ErrEngineTooSmall
// for EngineOpenClaw on a plan below MinOpenClawMemoryMB.
func (p Plan) WithEngine(engine string) (Plan, error) {
	switch engine {
	case EngineRuntime:
	case EngineOpenClaw:
		if p.MemoryMB < MinOpenClawMemoryMB {
			return Plan{}, fmt.Errorf("%w: %s has %d MB, %s needs %d MB", ErrEngineTooSmall, p.ID, p.MemoryMB, engine, MinOpenClawMemoryMB)
		}
	default:
		return Plan{}, fmt.Errorf("%w: %q (want %q or %q)", ErrUnknownEngine, engine, EngineRuntime, EngineOpenClaw)
	}
	p = p.clone()
	p.Engine = engine
	return p, nil
}

// Lookup returns the plan with the given id. The id must match exactly
// (lowercase, no surrounding spaces); anything else yields an error wrapping
// ErrUnknownPlan.
func Lookup(id string) (Plan, error) {
	for _, p := range catalog {
		if p.ID == id {
			return p.clone(), nil
		}
	}
	return Plan{}, fmt.Errorf("%w: %q", ErrUnknownPlan, id)
}

// All returns every plan in ascending price order (starter, pro, team).
func All() []Plan {
	out := make([]Plan, len(catalog))
	for i, p := range catalog {
		out[i] = p.clone()
	}
	return out
}

// Allows reports whether the plan grants the named skill. Skill names are
// matched exactly.
func (p Plan) Allows(skill string) bool {
	return slices.Contains(p.Skills, skill)
}

// clone returns a copy of p that shares no memory with it.
func (p Plan) clone() Plan {
	p.Skills = slices.Clone(p.Skills)
	return p
}
