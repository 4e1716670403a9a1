package prompt

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/customerdb"
)

var now = time.Date(2026, 3, 10, 14, 5, 0, 0, time.FixedZone("CET", 3600))

func TestSystemIncludesWorkspaceInOrder(t *testing.T) {
	files := []customerdb.File{
		{Path: "MEMORY.md", Content: "# MEMORY\nlikes tea"},
		{Path: "SOUL.md", Content: "# SOUL\nwarm"},
		{Path: "AGENTS.md", Content: "# AGENTS\nrules"},
		{Path: "USER.md", Content: "# USER\nAda"},
		{Path: "IDENTITY.md", Content: "# IDENTITY\nClaw"},
		{Path: "BOOTSTRAP.md", Content: "FIRST RUN RITUAL"},
		{Path: "HEARTBEAT.md", Content: "HEARTBEAT LIST"},
		{Path: "memory/2026-03-09.md", Content: "yesterday note"},
		{Path: "memory/2026-03-10.md", Content: "today note"},
		{Path: "memory/2026-03-08.md", Content: "older note"},
		{Path: "skills/chat/SKILL.md", Content: "SKILL BODY"},
	}
	got := System(Input{
		Now:      now,
		Files:    files,
		Skills:   []Skill{{Name: "chat", Description: "Everyday\nconversation."}},
		Memories: []customerdb.Memory{{Content: "Sister Anna lives in Lisbon", Tags: []string{"family"}, CreatedAt: now}},
	})
	order := []string{"## AGENTS.md", "## SOUL.md", "## USER.md", "## IDENTITY.md", "## MEMORY.md",
		"## memory/2026-03-09.md", "yesterday note", "## memory/2026-03-10.md", "today note",
		"# Skills", "- chat: Everyday conversation.", "# Memories relevant", "(2026-03-10; tags: family) Sister Anna lives in Lisbon"}
	at := 0
	for _, want := range order {
		i := strings.Index(got[at:], want)
		if i < 0 {
			t.Fatalf("prompt lacks %q after position %d:\n%s", want, at, got)
		}
		at += i + len(want)
	}
	for _, absent := range []string{"FIRST RUN RITUAL", "HEARTBEAT LIST", "older note", "SKILL BODY"} {
		if strings.Contains(got, absent) {
			t.Errorf("prompt contains %q", absent)
		}
	}
	if !strings.Contains(got, "Tuesday, 10 March 2026 14:05") {
		t.Errorf("prompt lacks the current time:\n%s", got[:400])
	}
}

// section returns the injected text of one workspace file.
func section(t *testing.T, prompt, path string) string {
	t.Helper()
	_, rest, ok := strings.Cut(prompt, "\n## "+path+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.Index(rest, "\n# "); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSuffix(rest, "\n")
}

func TestSystemHonoursOpenClawCaps(t *testing.T) {
	// 🙂 is two UTF-16 units: 15,000 of them are 30,000 characters to
	// OpenClaw although only 15,000 runes.
	big := "HEAD" + strings.Repeat("🙂", 15_000) + "TAIL"
	var files []customerdb.File
	for _, p := range Paths(now) {
		files = append(files, customerdb.File{Path: p, Content: big})
	}
	got := System(Input{Now: now, Files: files})
	total := 0
	for _, p := range Paths(now) {
		s := section(t, got, p)
		if strings.HasPrefix(s, "[left out") {
			continue
		}
		n := Len(s)
		if n > MaxFileChars {
			t.Errorf("%s injected with %d characters, over %d", p, n, MaxFileChars)
		}
		total += n
	}
	if total > MaxTotalChars {
		t.Errorf("workspace injected with %d characters, over %d", total, MaxTotalChars)
	}
	agents := section(t, got, "AGENTS.md")
	if !strings.HasPrefix(agents, "HEAD") || !strings.HasSuffix(agents, "TAIL") || !strings.Contains(agents, "AGENTS.md is cut here") {
		t.Errorf("a truncated file keeps neither head, tail nor marker: %q…", agents[:40])
	}
	if Len(agents) < MaxFileChars-10 {
		t.Errorf("AGENTS.md uses %d characters of its %d", Len(agents), MaxFileChars)
	}
	// Three files fill the total; the rest are only named.
	if !strings.Contains(got, "## MEMORY.md\n[left out") {
		t.Errorf("MEMORY.md is neither injected nor named as left out")
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		content string
		limit   int
	}{
		{strings.Repeat("a", 1000), 500},
		{strings.Repeat("é🙂", 700), 999},
		{strings.Repeat("x", 100), 30}, // smaller than the marker: a plain cut
	} {
		got := Truncate("f.md", tc.content, tc.limit)
		if Len(got) > tc.limit {
			t.Errorf("Truncate to %d gave %d characters", tc.limit, Len(got))
		}
		if !strings.HasPrefix(tc.content, got[:min(len(got), 10)]) {
			t.Errorf("Truncate lost the head: %q", got[:10])
		}
		if strings.ContainsRune(got, '\uFFFD') {
			t.Errorf("Truncate split a character: %q", got)
		}
	}
	if got := Truncate("f.md", "short", 10); got != "short" {
		t.Errorf("Truncate of a short file = %q", got)
	}
}

func TestSkillDescription(t *testing.T) {
	for in, want := range map[string]string{
		"---\nname: \"chat\"\ndescription: \"Talk \\\"nicely\\\".\"\nmetadata: {}\n---\n\nbody": `Talk "nicely".`,
		"---\nname: x\ndescription: plain words\n---\n":                                         "plain words",
		"no frontmatter\ndescription: nope":                                                     "",
		"---\nname: x\n---\ndescription: after":                                                 "",
	} {
		if got := SkillDescription(in); got != want {
			t.Errorf("SkillDescription(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTimezone(t *testing.T) {
	for in, want := range map[string]string{
		"# USER\n- **Timezone:** Europe/Berlin\n":                               "Europe/Berlin",
		"- **Timezone:** UTC (no usable timezone came with sign-up; ask, then)": "UTC",
		"- **Timezone:** `America/New_York`.":                                   "America/New_York",
		"- **Timezone:** Mars/Olympus":                                          "UTC",
		"- **Timezone:** Local":                                                 "UTC",
		"no timezone line":                                                      "UTC",
	} {
		if got := Timezone(in).String(); got != want {
			t.Errorf("Timezone(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzTruncate checks the caps on any text: never over the limit, never a
// broken character.
func FuzzTruncate(f *testing.F) {
	f.Add("hello world", 5)
	f.Add(strings.Repeat("🙂é", 500), 300)
	f.Add("x", 0)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 || limit > 100_000 || !utf8.ValidString(s) {
			return
		}
		got := Truncate("f.md", s, limit)
		if Len(got) > limit {
			t.Fatalf("Truncate(%d) gave %d characters", limit, Len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Truncate broke a character: %q", got)
		}
		if Len(s) <= limit && got != s {
			t.Fatalf("Truncate changed a text within the limit")
		}
	})
}
