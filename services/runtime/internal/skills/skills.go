// Package skills is the customer's view of the skills their plan grants:
// which are enabled, switching them within the plan, and keeping the
// workspace's openclaw.json in step with the switches so an exported
// workspace runs with the same skills on a real OpenClaw gateway.
package skills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/prompt"
)

// ErrUnknown reports a skill no plan grants.
var ErrUnknown = errors.New("unknown skill")

// ErrNotInPlan reports a skill that exists but the customer's plan does not
// grant.
var ErrNotInPlan = errors.New("skill not in plan")

// Skill is one skill of the plan.
type Skill struct {
	// Name is the skill's folder name (skills/<name>/SKILL.md).
	Name string `json:"name"`
	// Description is from the SKILL.md frontmatter; empty if the workspace
	// has no SKILL.md for it.
	Description string `json:"description"`
	// Enabled reports whether the assistant uses the skill.
	Enabled bool `json:"enabled"`
}

// List returns the plan's skills in plan order, with their descriptions and
// switches.
func List(ctx context.Context, db customerdb.DB, plan plans.Plan) ([]Skill, error) {
	settings, err := customerdb.SkillSettings(ctx, db)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(plan.Skills))
	for i, name := range plan.Skills {
		paths[i] = prompt.SkillPath(name)
	}
	files, err := customerdb.ReadFiles(ctx, db, paths...)
	if err != nil {
		return nil, err
	}
	return FromFiles(plan, settings, files), nil
}

// FromFiles is List from what was read already: the customer's switches
// and workspace files including the skills' SKILL.md (other files are
// ignored).
func FromFiles(plan plans.Plan, settings map[string]bool, files []customerdb.File) []Skill {
	desc := make(map[string]string, len(plan.Skills))
	for _, f := range files {
		if strings.HasPrefix(f.Path, "skills/") {
			desc[f.Path] = prompt.SkillDescription(f.Content)
		}
	}
	out := make([]Skill, len(plan.Skills))
	for i, name := range plan.Skills {
		on, set := settings[name]
		out[i] = Skill{Name: name, Description: desc[prompt.SkillPath(name)], Enabled: on || !set}
	}
	return out
}

// Enabled returns the enabled skills of list, as the prompt names them.
func Enabled(list []Skill) []prompt.Skill {
	var out []prompt.Skill
	for _, s := range list {
		if s.Enabled {
			out = append(out, prompt.Skill{Name: s.Name, Description: s.Description})
		}
	}
	return out
}

// known reports whether any plan grants name.
func known(name string) bool {
	for _, p := range plans.All() {
		if p.Allows(name) {
			return true
		}
	}
	return false
}

// Set switches a skill of the plan on or off and rewrites openclaw.json to
// match, in one transaction. It returns ErrUnknown or ErrNotInPlan for a
// skill the customer cannot switch.
func Set(ctx context.Context, db customerdb.TxBeginner, plan plans.Plan, name string, enabled bool) (Skill, error) {
	switch {
	case !known(name):
		return Skill{}, fmt.Errorf("%w: %q", ErrUnknown, name)
	case !plan.Allows(name):
		return Skill{}, fmt.Errorf("%w: %s is not part of the %s plan", ErrNotInPlan, name, plan.Name)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return Skill{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	if err := customerdb.SetSkillEnabled(ctx, tx, name, enabled); err != nil {
		return Skill{}, err
	}
	if err := syncConfig(ctx, tx, plan); err != nil {
		return Skill{}, err
	}
	list, err := List(ctx, tx, plan)
	if err != nil {
		return Skill{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Skill{}, err
	}
	i := slices.IndexFunc(list, func(s Skill) bool { return s.Name == name })
	return list[i], nil
}

// ConfigPath is where the workspace keeps the gateway configuration
// (services/workspace/internal/render.ConfigPath): it belongs in OpenClaw's
// state directory, beside the workspace, not in it.
const ConfigPath = "openclaw.json"

// syncConfig rewrites the stored openclaw.json, if there is one, so its
// skills match the switches.
func syncConfig(ctx context.Context, db customerdb.DB, plan plans.Plan) error {
	files, err := customerdb.ReadFiles(ctx, db, ConfigPath)
	if err != nil || len(files) == 0 {
		return err
	}
	list, err := List(ctx, db, plan)
	if err != nil {
		return err
	}
	patched, err := PatchConfig(files[0].Content, list)
	if err != nil {
		return err
	}
	return customerdb.PutFiles(ctx, db, customerdb.File{Path: ConfigPath, Content: patched})
}

// PatchConfig returns openclaw.json with its skills set from list:
// skills.entries.<name>.enabled for every skill of the plan, and
// agents.defaults.skills (the allowlist) holding exactly the enabled ones.
// Skills outside the plan keep what the workspace service wrote (disabled).
// Every other key is kept as it is; OpenClaw rejects unknown keys, so none
// is added. Key order follows encoding/json (sorted), which JSON5 readers do
// not mind.
func PatchConfig(config string, list []Skill) (string, error) {
	var root map[string]any
	if err := json.Unmarshal([]byte(config), &root); err != nil {
		return "", fmt.Errorf("openclaw.json is not JSON: %w", err)
	}
	var enabled []string
	entries := object(object(root, "skills"), "entries")
	for _, s := range list {
		entry := object(entries, s.Name)
		entry["enabled"] = s.Enabled
		if s.Enabled {
			enabled = append(enabled, s.Name)
		}
	}
	defaults := object(object(root, "agents"), "defaults")
	if enabled == nil {
		enabled = []string{}
	}
	defaults["skills"] = enabled
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return "", err
	}
	return string(out) + "\n", nil
}

// object returns m[key] as an object, creating it (or replacing a
// non-object) when needed.
func object(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := make(map[string]any)
	m[key] = v
	return v
}
