// Package prompt builds the system prompt of a chat turn from the customer's
// OpenClaw workspace, their enabled skills and the memories relevant to the
// message — the context a real OpenClaw gateway would give its agent at the
// start of a session.
//
// Workspace files are injected the way OpenClaw injects bootstrap files:
// each cut to 20,000 characters (bootstrapMaxChars), all of them together to
// 60,000, counted as JavaScript counts string length (UTF-16 code units). A
// file over its cap keeps its head and its tail around a marker naming the
// file, as OpenClaw does, so the model knows something is missing. Files
// that do not fit the total at all are named but left out.
package prompt

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"clawdbot.cloud/pkg/customerdb"
)

// OpenClaw's injection limits, in UTF-16 code units.
const (
	// MaxFileChars is the cap on one workspace file.
	MaxFileChars = 20_000
	// MaxTotalChars is the cap on all workspace files together.
	MaxTotalChars = 60_000
)

// MaxMemoryChars caps one memory in the prompt; memories are stored up to
// customerdb.MaxMemoryChars, but a few relevant excerpts serve the model
// better than one long note crowding out the rest.
const MaxMemoryChars = 1_000

// minFileChars is the smallest remainder of the total budget worth a
// truncated file; below it the file is only named.
const minFileChars = 200

// Skill is an enabled skill as the model is told about it.
type Skill struct {
	Name        string
	Description string
}

// Input is what a system prompt is built from.
type Input struct {
	// Now is the current time in the customer's timezone.
	Now time.Time
	// Files are workspace files (any order); Paths decides which are used
	// and in what order.
	Files []customerdb.File
	// Skills are the enabled skills.
	Skills []Skill
	// Memories are the memories relevant to the message, best first.
	Memories []customerdb.Memory
}

// Paths returns the workspace files injected into every session, in order,
// for a session on the calendar day of now (in the customer's timezone):
// the operating rules, persona, user profile, identity, tool notes and
// long-term memory, then the daily notes of yesterday and today.
// BOOTSTRAP.md and HEARTBEAT.md are left out: the first-run ritual needs
// file tools this chat does not have, and heartbeats are not chat turns.
func Paths(now time.Time) []string {
	return []string{
		"AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md", "MEMORY.md",
		customerdb.NotePath(now.AddDate(0, 0, -1)), customerdb.NotePath(now),
	}
}

// preamble tells the model where it is and what it cannot do here.
const preamble = `You are the user's personal AI assistant, running on Clawdbot Cloud and talking with them through their private chat.
Your workspace files follow. They say who you are (SOUL.md, IDENTITY.md), who you are helping (USER.md), how you work (AGENTS.md) and what you remember (MEMORY.md and the daily notes in memory/). Treat them as your own memory and follow them.
In this chat you cannot edit files or run tools. When something is worth remembering, say so briefly and suggest saving it as a memory. Never claim to have done something you cannot do here.`

// System returns the system prompt for in.
func System(in Input) string {
	var b strings.Builder
	b.WriteString(preamble)
	fmt.Fprintf(&b, "\n\nCurrent time: %s (%s).\n", in.Now.Format("Monday, 2 January 2006 15:04"), in.Now.Location())

	byPath := make(map[string]string, len(in.Files))
	for _, f := range in.Files {
		byPath[f.Path] = f.Content
	}
	b.WriteString("\n# Workspace files\n")
	budget := MaxTotalChars
	for _, path := range Paths(in.Now) {
		content, ok := byPath[path]
		if !ok || strings.TrimSpace(content) == "" {
			continue
		}
		limit := min(MaxFileChars, budget)
		if limit < minFileChars {
			fmt.Fprintf(&b, "\n## %s\n[left out: the workspace files are over %d characters in total; read %s for it]\n", path, MaxTotalChars, path)
			continue
		}
		text := Truncate(path, content, limit)
		budget -= Len(text)
		fmt.Fprintf(&b, "\n## %s\n%s\n", path, strings.TrimRight(text, "\n"))
	}

	if len(in.Skills) > 0 {
		b.WriteString("\n# Skills\nThe skills enabled on the user's plan. Use the tools this chat offers for them (memory, web search and fetch, the browser); for a skill without a tool, explain what you would do or how the user can do it.\n")
		for _, s := range in.Skills {
			fmt.Fprintf(&b, "- %s: %s\n", s.Name, oneLine(s.Description))
		}
	}

	if len(in.Memories) > 0 {
		b.WriteString("\n# Memories relevant to this message\nSaved memories that may bear on what the user just wrote, most relevant first. Use them when they help; don't recite them.\n")
		for _, m := range in.Memories {
			fmt.Fprintf(&b, "- (%s", m.CreatedAt.In(in.Now.Location()).Format(time.DateOnly))
			if len(m.Tags) > 0 {
				fmt.Fprintf(&b, "; tags: %s", strings.Join(m.Tags, ", "))
			}
			b.WriteString(") ")
			b.WriteString(strings.ReplaceAll(Truncate("memory", m.Content, MaxMemoryChars), "\n", "\n  "))
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Len is the length of s as OpenClaw (JavaScript) counts it: UTF-16 code
// units.
func Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// Truncate returns content if it is at most limit characters (Len), and
// otherwise its head and tail (7:2) around a marker naming path, at most
// limit characters in all.
func Truncate(path, content string, limit int) string {
	n := Len(content)
	if n <= limit {
		return content
	}
	marker := fmt.Sprintf("\n\n[… %s is cut here: %d characters, over the limit of %d …]\n\n", path, n, limit)
	room := limit - Len(marker)
	if room <= 0 {
		return head(content, limit)
	}
	h := room * 7 / 9
	return head(content, h) + marker + tail(content, room*2/9)
}

// head returns the longest prefix of s of at most n UTF-16 units.
func head(s string, n int) string {
	used := 0
	for i, r := range s {
		if used+utf16.RuneLen(r) > n {
			return s[:i]
		}
		used += utf16.RuneLen(r)
	}
	return s
}

// tail returns the longest suffix of s of at most n UTF-16 units.
func tail(s string, n int) string {
	used, i := 0, len(s)
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if used+utf16.RuneLen(r) > n {
			break
		}
		used += utf16.RuneLen(r)
		i -= size
	}
	return s[i:]
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
