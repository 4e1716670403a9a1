package render

import (
	"errors"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/plans"
)

func TestRenderPerPlan(t *testing.T) {
	tests := []struct {
		plan    string
		want    []string // skills that must be present
		notWant []string // skills that must be absent
	}{
		{
			plan:    plans.Starter,
			want:    []string{"chat", "memory", "web-search"},
			notWant: []string{"gmail", "calendar", "browser", "slack", "github", "documents"},
		},
		{
			plan:    plans.Pro,
			want:    []string{"chat", "memory", "web-search", "gmail", "calendar", "browser"},
			notWant: []string{"slack", "github", "documents"},
		},
		{
			plan: plans.Team,
			want: []string{"chat", "memory", "web-search", "gmail", "calendar", "browser", "slack", "github", "documents"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.plan, func(t *testing.T) {
			in := baseInput(t, tt.plan)
			files := mustRender(t, in)

			wantPaths := []string{
				"AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md", "HEARTBEAT.md",
				"BOOTSTRAP.md", "MEMORY.md", "memory/2026-03-01.md",
			}
			for _, s := range tt.want {
				wantPaths = append(wantPaths, "skills/"+s+"/SKILL.md")
			}
			wantPaths = append(wantPaths, "openclaw.json")
			if diff := cmp.Diff(wantPaths, paths(files)); diff != "" {
				t.Fatalf("paths (-want +got):\n%s", diff)
			}

			m := byPath(files)
			for _, s := range tt.notWant {
				if _, ok := m["skills/"+s+"/SKILL.md"]; ok {
					t.Errorf("%s plan renders the %s skill", tt.plan, s)
				}
			}
			checkConfig(t, m[ConfigPath], in.Plan)
			checkWorkspace(t, in, files, files)
			if tt.plan == plans.Team && len(tt.want) != len(skillCatalog) {
				t.Errorf("team should have every skill: %d of %d", len(tt.want), len(skillCatalog))
			}
		})
	}
}

func TestSkillFrontmatter(t *testing.T) {
	for _, p := range plans.All() {
		for _, f := range SkillFiles(Input{Plan: p}) {
			if f.Path == ConfigPath {
				continue
			}
			t.Run(p.ID+"/"+f.Path, func(t *testing.T) {
				fm, body := parseSkill(t, f.Content)
				folder := strings.TrimSuffix(strings.TrimPrefix(f.Path, "skills/"), "/SKILL.md")
				if fm.Name != folder {
					t.Errorf("name = %q, want the folder name %q", fm.Name, folder)
				}
				if len(fm.Description) < 40 {
					t.Errorf("description %q is too short to choose the skill by", fm.Description)
				}
				if fm.Metadata.OpenClaw.Emoji == "" {
					t.Error("metadata.openclaw.emoji is empty")
				}
				if !strings.HasPrefix(strings.TrimLeft(body, "\n"), "# ") {
					t.Errorf("body does not start with a heading:\n%s", body)
				}
				// Every OpenClaw release reads metadata as one line of JSON.
				if !regexp.MustCompile(`(?m)^metadata: \{.*\}$`).MatchString(f.Content) {
					t.Error("metadata is not a single-line JSON object")
				}
			})
		}
	}
}

func TestSkillCatalogMatchesPlansAndTemplates(t *testing.T) {
	for _, p := range plans.All() {
		for _, s := range p.Skills {
			if !knownSkill(s) {
				t.Errorf("plan %s grants %q, which the renderer does not know", p.ID, s)
			}
		}
	}
	entries, err := fs.ReadDir(templateFS, "templates/skills")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, strings.TrimSuffix(e.Name(), ".md"))
	}
	var names []string
	for name := range skillCatalog {
		names = append(names, name)
	}
	slices.Sort(names)
	if diff := cmp.Diff(names, files); diff != "" {
		t.Errorf("skillCatalog and templates/skills differ (-catalog +files):\n%s", diff)
	}
	team := mustPlan(t, plans.Team)
	for _, name := range names {
		if !team.Allows(name) {
			t.Errorf("skill %q is in the catalog but no plan grants it", name)
		}
	}
}

func TestUserFile(t *testing.T) {
	tests := []struct {
		name, email string
		want        []string
	}{
		{
			name: "Ada Lovelace", email: "ada@example.com",
			want: []string{"- **Name:** Ada Lovelace\n", "- **What to call them:** Ada (their first name", "- **Email:** ada@example.com\n"},
		},
		{
			name: "  Grace   Brewster\tHopper ", email: "",
			want: []string{"- **Name:** Grace Brewster Hopper\n", "- **What to call them:** Grace (", "- **Email:** (not given)\n"},
		},
		{
			name: "", email: "x@y.z",
			want: []string{"- **Name:** (not given yet; ask)\n", "- **What to call them:** (ask what they'd like to be called)\n"},
		},
		{
			name: "李 小龍", email: "",
			want: []string{"- **Name:** 李 小龍\n", "- **What to call them:** 李 ("},
		},
		{
			name: "john_doe *bold* [x](y)", email: "a_b@example.com",
			want: []string{`- **Name:** john\_doe \*bold\* \[x\](y)` + "\n", `- **Email:** a\_b@example.com` + "\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput(t, plans.Starter)
			in.Name, in.Email = tt.name, tt.email
			user := byPath(mustRender(t, in))["USER.md"]
			for _, w := range tt.want {
				if !strings.Contains(user, w) {
					t.Errorf("USER.md lacks %q:\n%s", w, user)
				}
			}
		})
	}
}

func TestDateInCustomerTimezone(t *testing.T) {
	tests := []struct {
		tz, wantDate, wantZone string
		fromCheckout           bool
	}{
		{"Europe/Berlin", "2026-03-01", "Europe/Berlin", true},
		{"America/Los_Angeles", "2026-02-28", "America/Los_Angeles", true},
		{"Pacific/Honolulu", "2026-02-28", "Pacific/Honolulu", true},
		{" Asia/Tokyo ", "2026-03-01", "Asia/Tokyo", true},
		{"UTC", "2026-03-01", "UTC", true},
		{"", "2026-03-01", "UTC", false},
		{"Local", "2026-03-01", "UTC", false},
		{"Mars/Olympus_Mons", "2026-03-01", "UTC", false},
		{"../../../etc/passwd", "2026-03-01", "UTC", false},
		{"America/New_York\n# evil", "2026-03-01", "UTC", false},
	}
	for _, tt := range tests {
		t.Run(tt.tz, func(t *testing.T) {
			in := baseInput(t, plans.Pro)
			in.Timezone = tt.tz
			files := mustRender(t, in)
			m := byPath(files)
			daily := "memory/" + tt.wantDate + ".md"
			if _, ok := m[daily]; !ok {
				t.Fatalf("no %s among %v", daily, paths(files))
			}
			if !strings.HasPrefix(m[daily], "# "+tt.wantDate+"\n") {
				t.Errorf("%s does not start with its date:\n%s", daily, m[daily])
			}
			user := m["USER.md"]
			if !strings.Contains(user, "- **Timezone:** "+tt.wantZone) {
				t.Errorf("USER.md does not give timezone %s:\n%s", tt.wantZone, user)
			}
			if asks := strings.Contains(user, "no usable timezone"); asks == tt.fromCheckout {
				t.Errorf("USER.md asks for the timezone = %v, want %v", asks, !tt.fromCheckout)
			}
		})
	}
}

// TestHeartbeatIsEffectivelyEmpty applies OpenClaw's own rule
// (isHeartbeatContentEffectivelyEmpty): only blank lines, "#" headings and
// empty list items, so the gateway makes no heartbeat calls.
func TestHeartbeatIsEffectivelyEmpty(t *testing.T) {
	heading := regexp.MustCompile(`^#+(\s|$)`)
	emptyItem := regexp.MustCompile(`^[-*+]\s*(\[[\sXx]?\]\s*)?$`)
	for _, p := range plans.All() {
		hb := byPath(mustRender(t, baseInput(t, p.ID)))["HEARTBEAT.md"]
		for i, line := range strings.Split(hb, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || heading.MatchString(line) || emptyItem.MatchString(line) {
				continue
			}
			t.Errorf("%s HEARTBEAT.md line %d would trigger heartbeats: %q", p.ID, i+1, line)
		}
	}
}

// TestIdentityHasNoValues applies OpenClaw's IDENTITY.md parser: no
// "label: value" line may give the agent a name, emoji, creature, vibe or
// avatar before the first conversation does.
func TestIdentityHasNoValues(t *testing.T) {
	id := byPath(mustRender(t, baseInput(t, plans.Starter)))["IDENTITY.md"]
	for _, line := range strings.Split(id, "\n") {
		cleaned := strings.TrimPrefix(strings.TrimSpace(line), "-")
		label, value, ok := strings.Cut(cleaned, ":")
		if !ok {
			continue
		}
		label = strings.ToLower(strings.TrimSpace(strings.NewReplacer("*", "", "_", "").Replace(label)))
		value = strings.Trim(strings.TrimSpace(value), "*_ ")
		switch label {
		case "name", "emoji", "creature", "vibe", "avatar":
			if value != "" {
				t.Errorf("IDENTITY.md presets %s = %q", label, value)
			}
		}
	}
	if strings.HasPrefix(id, "# IDENTITY.md -") || strings.HasPrefix(id, "# IDENTITY.md —") {
		t.Error("IDENTITY.md title would be read as the agent's name")
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, p := range plans.All() {
		in := baseInput(t, p.ID)
		first := mustRender(t, in)
		for range 5 {
			if diff := cmp.Diff(first, mustRender(t, in)); diff != "" {
				t.Fatalf("%s: second rendering differs:\n%s", p.ID, diff)
			}
		}
	}
}

func TestSkillFilesIsTheTailOfRender(t *testing.T) {
	for _, p := range plans.All() {
		in := baseInput(t, p.ID)
		all := mustRender(t, in)
		skills := SkillFiles(in)
		if diff := cmp.Diff(all[len(all)-len(skills):], skills); diff != "" {
			t.Errorf("%s: SkillFiles differs from the end of Render (-render +skills):\n%s", p.ID, diff)
		}
		// It depends on the plan alone.
		other := SkillFiles(Input{Plan: p})
		if diff := cmp.Diff(skills, other); diff != "" {
			t.Errorf("%s: SkillFiles depends on more than the plan:\n%s", p.ID, diff)
		}
	}
}

// TestDowngradeDisablesSkills checks the plan-change path: re-rendering for a
// smaller plan switches off the skills it no longer grants.
func TestDowngradeDisablesSkills(t *testing.T) {
	files := SkillFiles(Input{Plan: mustPlan(t, plans.Starter)})
	var c config
	cfg := byPath(files)[ConfigPath]
	checkConfig(t, cfg, mustPlan(t, plans.Starter))
	if err := jsonUnmarshalStrict(cfg, &c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"gmail", "calendar", "browser", "slack", "github", "documents"} {
		if e, ok := c.Skills.Entries[s]; !ok || e.Enabled {
			t.Errorf("after downgrade to starter, %s entry = %+v (present %v), want disabled", s, e, ok)
		}
	}
}

func TestRenderRejectsInvalidInput(t *testing.T) {
	starter := mustPlan(t, plans.Starter)
	withSkill := starter
	withSkill.Skills = append(slices.Clone(starter.Skills), "shell")
	dupSkill := starter
	dupSkill.Skills = append(slices.Clone(starter.Skills), "chat")
	badModel := starter
	badModel.Model = "claude\"},\"gateway\":{"
	noID := starter
	noID.ID = ""

	tests := map[string]func(*Input){
		"zero time":       func(in *Input) { in.Now = time.Time{} },
		"year 10000":      func(in *Input) { in.Now = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"empty plan":      func(in *Input) { in.Plan = plans.Plan{} },
		"plan without id": func(in *Input) { in.Plan = noID },
		"unknown skill":   func(in *Input) { in.Plan = withSkill },
		"duplicate skill": func(in *Input) { in.Plan = dupSkill },
		"hostile model":   func(in *Input) { in.Plan = badModel },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			in := baseInput(t, plans.Starter)
			mutate(&in)
			files, err := Render(in)
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Render error = %v, want ErrInvalidInput", err)
			}
			if files != nil {
				t.Errorf("Render returned files alongside an error")
			}
		})
	}
}
