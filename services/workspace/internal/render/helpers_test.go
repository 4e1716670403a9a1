package render

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"clawdbot.cloud/pkg/plans"
)

// testNow is 2026-03-01 02:30 UTC: still 28 February in the Americas, already
// 1 March in Europe and Asia.
var testNow = time.Date(2026, 3, 1, 2, 30, 0, 0, time.UTC)

func mustPlan(t testing.TB, id string) plans.Plan {
	t.Helper()
	p, err := plans.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func baseInput(t testing.TB, planID string) Input {
	t.Helper()
	return Input{
		CustomerID: "cus_TEST123",
		Name:       "Ada Lovelace",
		Email:      "ada@example.com",
		Timezone:   "Europe/London",
		Plan:       mustPlan(t, planID),
		Now:        testNow,
	}
}

func mustRender(t testing.TB, in Input) []File {
	t.Helper()
	files, err := Render(in)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return files
}

func byPath(files []File) map[string]string {
	m := make(map[string]string, len(files))
	for _, f := range files {
		m[f.Path] = f.Content
	}
	return m
}

func paths(files []File) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

// skillFrontmatter is the SKILL.md frontmatter as OpenClaw reads it.
type skillFrontmatter struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Metadata    struct {
		OpenClaw struct {
			Emoji string `yaml:"emoji"`
		} `yaml:"openclaw"`
	} `yaml:"metadata"`
}

// parseSkill splits a SKILL.md into its YAML frontmatter, strictly decoded,
// and its body.
func parseSkill(t testing.TB, content string) (skillFrontmatter, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(content, "---\n")
	if !ok {
		t.Fatalf("SKILL.md does not start with a frontmatter delimiter:\n%s", content)
	}
	front, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		t.Fatalf("SKILL.md frontmatter is not closed:\n%s", content)
	}
	var fm skillFrontmatter
	dec := yaml.NewDecoder(strings.NewReader(front))
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil {
		t.Fatalf("SKILL.md frontmatter is not valid YAML: %v\n%s", err, front)
	}
	return fm, body
}

// configSchema lists every key openclaw.json may contain; "*" stands for any
// map key (a skill name). OpenClaw refuses to start on unknown keys.
var configSchema = map[string]any{
	"gateway": map[string]any{
		"mode": nil, "port": nil, "bind": nil,
		"auth": map[string]any{"mode": nil},
	},
	"agents": map[string]any{
		"defaults": map[string]any{
			"workspace": nil,
			"model":     map[string]any{"primary": nil},
			"skills":    nil,
		},
	},
	"skills": map[string]any{
		"entries": map[string]any{"*": map[string]any{"enabled": nil}},
	},
}

// checkKeys fails for every key of got that schema does not allow.
func checkKeys(t testing.TB, path string, got any, schema any) {
	t.Helper()
	obj, isObj := got.(map[string]any)
	allowed, hasChildren := schema.(map[string]any)
	switch {
	case isObj && !hasChildren:
		t.Errorf("openclaw.json: %s is an object, want a plain value", path)
	case !isObj:
		return
	}
	for k, v := range obj {
		sub, ok := allowed[k]
		if !ok {
			sub, ok = allowed["*"]
		}
		if !ok {
			t.Errorf("openclaw.json: key %s.%s is not allowed", path, k)
			continue
		}
		checkKeys(t, path+"."+k, v, sub)
	}
}

// secretish matches keys and values that look like credentials.
var (
	secretKey   = regexp.MustCompile(`(?i)token|secret|password|apikey|api_key|credential`)
	secretValue = regexp.MustCompile(`claw_|sk-|sk_|whsec_|Bearer |-----BEGIN`)
)

// checkConfig verifies openclaw.json: strict JSON, allowed keys only, no
// secret, and the plan's model and skills.
func checkConfig(t testing.TB, content string, plan plans.Plan) {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(content))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openclaw.json is not valid JSON: %v\n%s", err, content)
	}
	if dec.More() {
		t.Fatalf("openclaw.json has trailing data")
	}
	checkKeys(t, "$", doc, configSchema)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				// "auth.mode" is "token": that names the scheme, it is not one.
				if secretKey.MatchString(k) {
					t.Errorf("openclaw.json: key %s.%s looks like a secret", path, k)
				}
				walk(path+"."+k, c)
			}
		case []any:
			for _, c := range v {
				walk(path+"[]", c)
			}
		case string:
			if secretValue.MatchString(v) {
				t.Errorf("openclaw.json: value at %s looks like a secret: %q", path, v)
			}
		}
	}
	walk("$", doc)

	var c config
	strict := json.NewDecoder(strings.NewReader(content))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&c); err != nil {
		t.Fatalf("openclaw.json does not match the config types: %v", err)
	}
	if c.Gateway != (gatewayConfig{Mode: "local", Port: 18789, Bind: "loopback", Auth: gatewayAuth{Mode: "token"}}) {
		t.Errorf("openclaw.json gateway = %+v", c.Gateway)
	}
	if got, want := c.Agents.Defaults.Model.Primary, "anthropic/"+plan.Model; got != want {
		t.Errorf("openclaw.json model = %q, want %q", got, want)
	}
	if c.Agents.Defaults.Workspace != WorkspaceDir {
		t.Errorf("openclaw.json workspace = %q, want %q", c.Agents.Defaults.Workspace, WorkspaceDir)
	}
	if strings.Join(c.Agents.Defaults.Skills, ",") != strings.Join(plan.Skills, ",") {
		t.Errorf("openclaw.json skills allowlist = %v, want %v", c.Agents.Defaults.Skills, plan.Skills)
	}
	for name := range skillCatalog {
		e, ok := c.Skills.Entries[name]
		if !ok {
			t.Errorf("openclaw.json has no entry for skill %q", name)
		} else if e.Enabled != plan.Allows(name) {
			t.Errorf("openclaw.json skill %q enabled = %v, plan allows it: %v", name, e.Enabled, plan.Allows(name))
		}
	}
}

// checkWorkspace verifies what must hold for any input: file limits, valid
// UTF-8, parsable SKILL.md and openclaw.json, and that user text changed
// neither the line structure of any file nor anything outside Markdown.
// reference is the rendering of the same plan and time with a plain name.
func checkWorkspace(t testing.TB, in Input, files, reference []File) {
	t.Helper()
	if got, want := strings.Join(paths(files), "\n"), strings.Join(paths(reference), "\n"); got != want {
		t.Fatalf("file list depends on user input:\n got %s\nwant %s", got, want)
	}
	total := 0
	for i, f := range files {
		ref := reference[i]
		if !utf8.ValidString(f.Content) {
			t.Errorf("%s is not valid UTF-8", f.Path)
		}
		n := utf16Len(f.Content)
		if n > maxFileChars {
			t.Errorf("%s is %d characters, over %d", f.Path, n, maxFileChars)
		}
		switch {
		case strings.HasPrefix(f.Path, "skills/"), f.Path == ConfigPath:
			if f.Content != ref.Content {
				t.Errorf("%s depends on the customer's name, email or timezone", f.Path)
			}
			continue
		}
		total += n
		if strings.HasPrefix(f.Content, "---") {
			t.Errorf("%s starts with a frontmatter delimiter", f.Path)
		}
		if got, want := strings.Count(f.Content, "\n"), strings.Count(ref.Content, "\n"); got != want {
			t.Errorf("%s has %d lines, the reference rendering %d: user text added lines", f.Path, got, want)
		}
		for _, c := range "<>[]`*_&|" {
			if got, want := unescaped(f.Content, c), unescaped(ref.Content, c); got != want {
				t.Errorf("%s has %d unescaped %q, the reference rendering %d", f.Path, got, c, want)
			}
		}
		for _, bad := range []string{"\r", "\u2028", "\u2029", "\x00", "\u202e"} {
			if strings.Contains(f.Content, bad) {
				t.Errorf("%s contains %q", f.Path, bad)
			}
		}
		refLines := strings.Split(ref.Content, "\n")
		for j, line := range strings.Split(f.Content, "\n") {
			// A line may only differ from the reference after its label, so
			// user text never begins a line (no headings, rules or lists).
			refLine := refLines[j]
			prefix := refLine
			if k := strings.Index(refLine, ":**"); k >= 0 {
				prefix = refLine[:k+3]
			} else if len(prefix) > 2 {
				prefix = prefix[:2]
			}
			if !strings.HasPrefix(line, prefix) {
				t.Errorf("%s line %d starts differently from the reference:\n got %q\nwant prefix %q", f.Path, j+1, line, prefix)
			}
		}
	}
	// OpenClaw injects at most 60,000 characters of bootstrap files in total.
	if total > 60_000 {
		t.Errorf("Markdown files total %d characters, over 60,000", total)
	}
	m := byPath(files)
	checkConfig(t, m[ConfigPath], in.Plan)
	for _, f := range files {
		if name, ok := strings.CutPrefix(f.Path, "skills/"); ok {
			fm, _ := parseSkill(t, f.Content)
			if want := strings.TrimSuffix(name, "/SKILL.md"); fm.Name != want {
				t.Errorf("%s: frontmatter name %q, want %q", f.Path, fm.Name, want)
			}
		}
	}
}

// unescaped counts the occurrences of c in s that Markdown would interpret:
// those not preceded by an odd number of backslashes.
func unescaped(s string, c rune) int {
	n, backslashes := 0, 0
	for _, r := range s {
		switch r {
		case '\\':
			backslashes++
			continue
		case c:
			if backslashes%2 == 0 {
				n++
			}
		}
		backslashes = 0
	}
	return n
}
