package render

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"clawdbot.cloud/pkg/plans"
)

// templateFS holds the workspace templates (templates/*.tmpl) and the skill
// instructions (templates/skills/<name>.md, plain Markdown without
// frontmatter; the frontmatter is generated from skillCatalog).
//
//go:embed templates
var templateFS embed.FS

// skillMeta is what OpenClaw needs to know about a skill before reading it.
type skillMeta struct {
	// description is the frontmatter description: what the skill does and
	// when to use it. OpenClaw shows it to the model to choose skills, so it
	// names the trigger, not just the feature.
	description string
	// emoji is shown next to the skill in OpenClaw's interfaces.
	emoji string
}

// skillCatalog describes every skill any plan can grant; templates/skills has
// one instruction file per entry. A test keeps both in step with pkg/plans.
var skillCatalog = map[string]skillMeta{
	plans.SkillChat: {
		description: "Everyday conversation and writing help: answering questions, explaining, brainstorming, drafting and rewriting text. Use for any request that needs no other tool.",
		emoji:       "💬",
	},
	plans.SkillMemory: {
		description: "Keep and recall what matters across sessions using MEMORY.md and the daily notes in memory/. Use when the user shares a fact, preference or decision worth keeping, or asks what you remember.",
		emoji:       "🧠",
	},
	plans.SkillWebSearch: {
		description: "Look things up on the web and cite sources. Use when an answer depends on current information (news, prices, opening hours, documentation) or the user asks you to check something.",
		emoji:       "🔎",
	},
	plans.SkillGmail: {
		description: "Read, search, summarise and draft email in the user's Gmail. Use for inbox triage, finding a message or attachment, and preparing replies; send only after the user says yes.",
		emoji:       "📧",
	},
	plans.SkillCalendar: {
		description: "Check the user's calendar, find free time, and propose, create or move events in their timezone. Use for scheduling questions and daily or weekly agenda summaries.",
		emoji:       "📅",
	},
	plans.SkillBrowser: {
		description: "Operate a real web browser: open pages, follow navigation, read what sits behind logins or scripts, fill in forms and take screenshots. Use when a web search alone cannot get the answer.",
		emoji:       "🌐",
	},
	plans.SkillSlack: {
		description: "Read and post in the user's Slack workspace: catch up on channels and threads, find a message, draft replies. Use when the user mentions Slack, a channel or a colleague's message there.",
		emoji:       "🧵",
	},
	plans.SkillGitHub: {
		description: "Work with GitHub: issues, pull requests, reviews, CI runs and repository contents. Use when the user mentions a repository, an issue or PR number, or a failing build.",
		emoji:       "🐙",
	},
	plans.SkillDocuments: {
		description: "Read, summarise, compare and draft documents (PDF, Word, spreadsheets, Markdown) stored in the workspace files/ folder or shared in chat. Use whenever a task starts from or should end in a document.",
		emoji:       "📄",
	},
}

// knownSkill reports whether the renderer can write a SKILL.md for name.
func knownSkill(name string) bool {
	_, ok := skillCatalog[name]
	return ok
}

// SkillFiles renders only what depends on the plan's skill set: one
// skills/<name>/SKILL.md per skill the plan grants, in plan order, followed by
// openclaw.json. A plan change re-renders these and leaves the customer's own
// files (USER.md, MEMORY.md, notes) untouched.
//
// SkillFiles expects a plan from pkg/plans and does not validate it: skills
// the renderer has no instructions for are left out, here and in
// openclaw.json, where Render reports them as an error.
func SkillFiles(in Input) []File {
	var files []File
	var granted []string
	for _, name := range in.Plan.Skills {
		if !knownSkill(name) || contains(granted, name) {
			continue
		}
		granted = append(granted, name)
		files = append(files, File{Path: "skills/" + name + "/SKILL.md", Content: skillFile(name)})
	}
	files = append(files, File{Path: ConfigPath, Content: configFile(in.Plan.Model, granted)})
	return files
}

// skillFile returns the SKILL.md of a known skill: frontmatter built with
// encoding/json (a JSON string or object is also valid YAML), then the
// instructions. metadata stays on one line, the form every OpenClaw release
// parses.
func skillFile(name string) string {
	meta := skillCatalog[name]
	body, err := templateFS.ReadFile("templates/skills/" + name + ".md")
	if err != nil {
		// The embedded files and skillCatalog are tested to match.
		panic(fmt.Sprintf("render: skill %q has no embedded instructions: %v", name, err))
	}
	openclaw := struct {
		OpenClaw struct {
			Emoji string `json:"emoji"`
		} `json:"openclaw"`
	}{}
	openclaw.OpenClaw.Emoji = meta.emoji

	var b strings.Builder
	b.WriteString("---\n")
	b.WriteString("name: " + mustJSON(name) + "\n")
	b.WriteString("description: " + mustJSON(meta.description) + "\n")
	b.WriteString("metadata: " + mustJSON(openclaw) + "\n")
	b.WriteString("---\n\n")
	b.Write(body)
	return b.String()
}

// mustJSON encodes v as compact JSON without HTML escaping. It is only used
// on strings and fixed struct types, which cannot fail to encode.
func mustJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("render: encode %T: %v", v, err))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CatalogSkills returns the skills the renderer writes a SKILL.md for, in
// no particular order: the platform owns skills/<name>/SKILL.md of exactly
// these, and a plan change may remove the ones the new plan does not grant.
func CatalogSkills() []string {
	out := make([]string, 0, len(skillCatalog))
	for name := range skillCatalog {
		out = append(out, name)
	}
	return out
}

// PlanManaged reports whether path is one the plan owns (a skill's SKILL.md
// or openclaw.json), which a re-render may overwrite; every other file
// belongs to the customer once delivered.
func PlanManaged(path string) bool {
	return path == ConfigPath || strings.HasPrefix(path, "skills/") && strings.HasSuffix(path, "/SKILL.md")
}
