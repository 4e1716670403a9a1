package render

import (
	"encoding/json"
	"fmt"
	"slices"
)

// OpenClaw's config is strict: an unknown key stops the gateway. These types
// therefore mirror exactly the keys the platform sets, and nothing else. In
// particular gatewayAuth has no token field: the gateway token is full owner
// access, so it never touches a file; whatever starts the gateway supplies
// it in the OPENCLAW_GATEWAY_TOKEN environment variable, which OpenClaw reads
// when auth.mode is "token" and the config holds no token.
type config struct {
	Gateway gatewayConfig `json:"gateway"`
	Agents  agentsConfig  `json:"agents"`
	Skills  skillsConfig  `json:"skills"`
}

type gatewayConfig struct {
	Mode string      `json:"mode"`
	Port int         `json:"port"`
	Bind string      `json:"bind"`
	Auth gatewayAuth `json:"auth"`
}

type gatewayAuth struct {
	Mode string `json:"mode"`
}

type agentsConfig struct {
	Defaults agentDefaults `json:"defaults"`
}

type agentDefaults struct {
	Workspace string      `json:"workspace"`
	Model     modelConfig `json:"model"`
	// Skills is the allowlist of skills agents may use. It keeps OpenClaw's
	// bundled skills out of reach, so the plan alone decides what the
	// assistant can do.
	Skills []string `json:"skills"`
}

type modelConfig struct {
	Primary string `json:"primary"`
}

type skillsConfig struct {
	Entries map[string]skillEntry `json:"entries"`
}

type skillEntry struct {
	Enabled bool `json:"enabled"`
}

// gatewayPort is OpenClaw's single port for WebSocket and HTTP.
const gatewayPort = 18789

// configFile renders openclaw.json for a plan's model and granted skills.
// Every skill in the catalog gets an entry: enabled if granted, disabled
// otherwise, so that skill folders left behind by a larger plan are switched
// off after a downgrade even if delivery has not removed them yet.
func configFile(model string, granted []string) string {
	entries := make(map[string]skillEntry, len(skillCatalog))
	for name := range skillCatalog {
		entries[name] = skillEntry{Enabled: slices.Contains(granted, name)}
	}
	c := config{
		Gateway: gatewayConfig{
			Mode: "local",
			Port: gatewayPort,
			Bind: "loopback",
			Auth: gatewayAuth{Mode: "token"},
		},
		Agents: agentsConfig{Defaults: agentDefaults{
			Workspace: WorkspaceDir,
			Model:     modelConfig{Primary: "anthropic/" + model},
			Skills:    append([]string{}, granted...),
		}},
		Skills: skillsConfig{Entries: entries},
	}
	// encoding/json sorts map keys, so the output is deterministic.
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		// Only strings, ints, bools and maps of them: cannot fail.
		panic(fmt.Sprintf("render: encode openclaw.json: %v", err))
	}
	return string(out) + "\n"
}
