package prompt

import (
	"encoding/json"
	"strings"
)

// SkillPath is where the workspace keeps a skill's instructions.
func SkillPath(name string) string { return "skills/" + name + "/SKILL.md" }

// SkillDescription returns the description in the YAML frontmatter of a
// SKILL.md ("description: ..." between the leading "---" lines), or "" when
// there is none. Values are plain scalars or double-quoted (JSON-compatible)
// strings, as the workspace renderer writes them.
func SkillDescription(skillMD string) string {
	rest, ok := strings.CutPrefix(skillMD, "---\n")
	if !ok {
		return ""
	}
	front, _, ok := strings.Cut(rest, "\n---")
	if !ok {
		return ""
	}
	for _, line := range strings.Split(front, "\n") {
		v, ok := strings.CutPrefix(line, "description:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			var s string
			if json.Unmarshal([]byte(v), &s) == nil {
				return s
			}
		}
		return strings.Trim(v, `'`)
	}
	return ""
}
