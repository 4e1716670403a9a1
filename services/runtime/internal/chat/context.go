package chat

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/agents"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/prompt"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// request builds the model call: the system prompt and the history ending
// with the customer's new message. It also returns the enabled skills.
func (s *Service) request(ctx context.Context, plan plans.Plan, res Result, req Request, now time.Time) (llm.Request, []string, error) {
	in, err := s.context(ctx, plan, req.Agent, req.Message, now)
	if err != nil {
		return llm.Request{}, nil, err
	}
	var enabled []string
	for _, sk := range in.Skills {
		enabled = append(enabled, sk.Name)
	}
	system := prompt.System(in)
	if req.Instructions != "" {
		system += "\n# Instructions from the client application\n" + req.Instructions + "\n"
	}
	var msgs []llm.Message
	if req.History != nil {
		msgs = append(clientHistory(req.History), llm.Message{Role: llm.User, Content: req.Message})
	} else {
		stored, err := customerdb.Messages(ctx, s.DB, res.ConversationID, historyMessages+1)
		if err != nil {
			return llm.Request{}, nil, err
		}
		msgs = history(stored, res.UserMessageID)
	}
	return llm.Request{
		Model:     s.Model,
		System:    system,
		Messages:  msgs,
		MaxTokens: s.MaxTokens,
	}, enabled, nil
}

// clientHistory bounds a client's history like a stored one: the last
// historyMessages within historyChars, starting with a user message.
func clientHistory(msgs []llm.Message) []llm.Message {
	chars, start := 0, len(msgs)
	for i := len(msgs) - 1; i >= 0 && len(msgs)-i <= historyMessages; i-- {
		chars += utf8.RuneCountInString(msgs[i].Content)
		if chars > historyChars {
			break
		}
		start = i
	}
	out := msgs[start:]
	for len(out) > 0 && out[0].Role != llm.User {
		out = out[1:]
	}
	return out
}

// context reads what the system prompt is built from.
func (s *Service) context(ctx context.Context, plan plans.Plan, agent, message string, now time.Time) (prompt.Input, error) {
	// The customer's zone decides which daily notes are today's and
	// yesterday's; it is in USER.md, so read every note that could be
	// either in any zone (UTC-12 to UTC+14), and pick after. The skills'
	// SKILL.md files come in the same read.
	paths := prompt.Paths(now.UTC())
	for _, d := range []int{-2, 1} {
		paths = append(paths, customerdb.NotePath(now.UTC().AddDate(0, 0, d)))
	}
	for _, name := range plan.Skills {
		paths = append(paths, prompt.SkillPath(name))
	}
	if agent != "" {
		paths = append(paths, agents.SoulPath(agent), agents.IdentityPath(agent))
	}
	files, err := customerdb.ReadFiles(ctx, s.DB, paths...)
	if err != nil {
		return prompt.Input{}, err
	}
	if agent != "" {
		files = agentFiles(files, agent)
	}
	settings, err := customerdb.SkillSettings(ctx, s.DB)
	if err != nil {
		return prompt.Input{}, err
	}
	mems, err := customerdb.RelevantMemories(ctx, s.DB, message, relevantMemories)
	if err != nil {
		return prompt.Input{}, err
	}
	loc := time.UTC
	for _, f := range files {
		if f.Path == "USER.md" {
			loc = prompt.Timezone(f.Content)
		}
	}
	list := skills.FromFiles(plan, settings, files)
	return prompt.Input{Now: now.In(loc), Files: files, Skills: skills.Enabled(list), Memories: mems}, nil
}

// history turns stored messages into the model's conversation: at most
// historyChars characters, oldest dropped first, starting with a customer's
// message, ending with the new one (id last). Empty messages are skipped:
// the API rejects empty content.
func history(msgs []customerdb.Message, last int64) []llm.Message {
	var out []llm.Message
	chars := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.ID > last || strings.TrimSpace(m.Content) == "" {
			continue // a later turn running concurrently
		}
		chars += utf8.RuneCountInString(m.Content)
		if chars > historyChars && len(out) > 0 {
			break
		}
		out = append(out, llm.Message{Role: llm.Role(m.Role), Content: m.Content})
	}
	for len(out) > 0 && out[len(out)-1].Role != llm.User {
		out = out[:len(out)-1] // drop leading assistant turns (reversed)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// agentFiles puts the agent's SOUL.md and IDENTITY.md in the place of the
// workspace's own.
func agentFiles(files []customerdb.File, agent string) []customerdb.File {
	own := map[string]string{agents.SoulPath(agent): "SOUL.md", agents.IdentityPath(agent): "IDENTITY.md"}
	replaced := map[string]bool{}
	var out []customerdb.File
	for _, f := range files {
		if p, ok := own[f.Path]; ok && strings.TrimSpace(f.Content) != "" {
			out = append(out, customerdb.File{Path: p, Content: f.Content})
			replaced[p] = true
		}
	}
	for _, f := range files {
		if _, isAgent := own[f.Path]; !isAgent && !replaced[f.Path] {
			out = append(out, f)
		}
	}
	return out
}
