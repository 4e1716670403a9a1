// Package agents is the Team plan's named agents: several assistants on
// one instance, each with its own SOUL.md and IDENTITY.md in the workspace
// (agents/<name>/SOUL.md, agents/<name>/IDENTITY.md, which take the place
// of the workspace's own in that agent's prompt) and its own
// conversations. Plans with an agent limit run the one default agent; the
// catalog (pkg/plans MaxAgents) says which plan is unlimited.
package agents

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// Errors of agent requests.
var (
	// ErrNotInPlan is a named agent on a plan without them.
	ErrNotInPlan = errors.New("named agents are part of the Team plan")
	// ErrInvalidName is a name outside the rules (see ValidName).
	ErrInvalidName = errors.New("an agent name is 1 to 32 lowercase letters, digits or '-', starting with a letter or digit")
	// ErrInvalid is an agent whose files break the rules.
	ErrInvalid = errors.New("invalid agent")
	// ErrNotFound is an agent the workspace does not have.
	ErrNotFound = errors.New("no such agent")
)

// Limits of an agent's files.
const maxFileChars = 20_000

var name = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidName reports whether n can name an agent ("default" is the
// instance's own agent and cannot be redefined).
func ValidName(n string) bool { return name.MatchString(n) && n != "default" }

// Allowed reports whether plan has named agents.
func Allowed(plan plans.Plan) bool { return plan.MaxAgents == plans.UnlimitedAgents }

// SoulPath and IdentityPath are where an agent's files live.
func SoulPath(agent string) string     { return "agents/" + agent + "/SOUL.md" }
func IdentityPath(agent string) string { return "agents/" + agent + "/IDENTITY.md" }

// Agent is a named agent and its files.
type Agent struct {
	Name     string `json:"name"`
	Soul     string `json:"soul"`
	Identity string `json:"identity"`
}

// List returns the workspace's agents by name.
func List(ctx context.Context, db customerdb.DB) ([]Agent, error) {
	files, err := customerdb.FilesUnder(ctx, db, "agents/")
	if err != nil {
		return nil, err
	}
	byName := map[string]*Agent{}
	for _, f := range files {
		rest := strings.TrimPrefix(f.Path, "agents/")
		n, file, ok := strings.Cut(rest, "/")
		if !ok || !ValidName(n) {
			continue
		}
		a := byName[n]
		if a == nil {
			a = &Agent{Name: n}
			byName[n] = a
		}
		switch file {
		case "SOUL.md":
			a.Soul = f.Content
		case "IDENTITY.md":
			a.Identity = f.Content
		}
	}
	out := make([]Agent, 0, len(byName))
	for _, a := range byName {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Exists reports whether the workspace has the agent.
func Exists(ctx context.Context, db customerdb.DB, agent string) (bool, error) {
	files, err := customerdb.ReadFiles(ctx, db, SoulPath(agent), IdentityPath(agent))
	return len(files) > 0, err
}

// Put creates or replaces an agent's files.
func Put(ctx context.Context, db customerdb.DB, a Agent) error {
	if !ValidName(a.Name) {
		return ErrInvalidName
	}
	if strings.TrimSpace(a.Soul) == "" && strings.TrimSpace(a.Identity) == "" {
		return fmt.Errorf("%w: give the agent a soul or an identity (SOUL.md, IDENTITY.md)", ErrInvalid)
	}
	if len([]rune(a.Soul)) > maxFileChars || len([]rune(a.Identity)) > maxFileChars {
		return fmt.Errorf("%w: an agent's files are at most %d characters each", ErrInvalid, maxFileChars)
	}
	return customerdb.PutFiles(ctx, db,
		customerdb.File{Path: SoulPath(a.Name), Content: a.Soul},
		customerdb.File{Path: IdentityPath(a.Name), Content: a.Identity})
}

// Delete removes an agent's files (its conversations stay).
func Delete(ctx context.Context, db customerdb.DB, agent string) error {
	n, err := customerdb.DeleteFiles(ctx, db, SoulPath(agent), IdentityPath(agent))
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
