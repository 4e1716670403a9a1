package anthropic

import (
	"encoding/json"
	"fmt"

	sdk "github.com/anthropics/anthropic-sdk-go"

	"clawdbot.cloud/services/runtime/internal/llm"
)

// Limits of the server tools the runtime declares, per model call.
const (
	maxSearchUses  = 5
	maxFetchUses   = 5
	maxFetchTokens = 20_000
)

// paramsOf turns req into the Messages API's parameters: text, tool_use
// and tool_result blocks, the runtime's tools and the server tools.
func paramsOf(req llm.Request) (sdk.MessageNewParams, error) {
	params := sdk.MessageNewParams{
		Model:     sdk.Model(req.Model),
		MaxTokens: req.MaxTokens,
		Messages:  make([]sdk.MessageParam, 0, len(req.Messages)),
	}
	if req.System != "" {
		params.System = []sdk.TextBlockParam{{Text: req.System}}
	}
	for _, m := range req.Messages {
		params.Messages = append(params.Messages, messageOf(m))
	}
	for _, t := range req.Tools {
		schema, err := inputSchema(t.Schema)
		if err != nil {
			return params, fmt.Errorf("tool %s: %w", t.Name, err)
		}
		params.Tools = append(params.Tools, sdk.ToolUnionParam{OfTool: &sdk.ToolParam{
			Name: t.Name, Description: sdk.String(t.Description), InputSchema: schema,
		}})
	}
	for _, st := range req.ServerTools {
		switch st {
		case llm.ServerWebSearch:
			params.Tools = append(params.Tools, sdk.ToolUnionParam{OfWebSearchTool20250305: &sdk.WebSearchTool20250305Param{
				MaxUses: sdk.Int(maxSearchUses),
			}})
		case llm.ServerWebFetch:
			params.Tools = append(params.Tools, sdk.ToolUnionParam{OfWebFetchTool20250910: &sdk.WebFetchTool20250910Param{
				MaxUses: sdk.Int(maxFetchUses), MaxContentTokens: sdk.Int(maxFetchTokens),
			}})
		}
	}
	if req.NoTools && len(params.Tools) > 0 {
		params.ToolChoice = sdk.ToolChoiceUnionParam{OfNone: &sdk.ToolChoiceNoneParam{}}
	}
	return params, nil
}

// messageOf is one message as content blocks. An assistant message of this
// turn goes back exactly as the API returned it (Native).
func messageOf(m llm.Message) sdk.MessageParam {
	if native, ok := m.Native.(sdk.MessageParam); ok {
		return native
	}
	var blocks []sdk.ContentBlockParamUnion
	for _, r := range m.ToolResults {
		blocks = append(blocks, sdk.NewToolResultBlock(r.CallID, r.Content, r.IsError))
	}
	if m.Content != "" {
		blocks = append(blocks, sdk.NewTextBlock(m.Content))
	}
	for _, c := range m.ToolCalls {
		blocks = append(blocks, sdk.NewToolUseBlock(c.ID, c.Input, c.Name))
	}
	if m.Role == llm.Assistant {
		return sdk.NewAssistantMessage(blocks...)
	}
	return sdk.NewUserMessage(blocks...)
}

// inputSchema splits a JSON Schema object into the SDK's input schema.
func inputSchema(raw json.RawMessage) (sdk.ToolInputSchemaParam, error) {
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		return sdk.ToolInputSchemaParam{}, fmt.Errorf("input schema: %w", err)
	}
	out := sdk.ToolInputSchemaParam{Properties: s["properties"], ExtraFields: map[string]any{}}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if name, ok := r.(string); ok {
				out.Required = append(out.Required, name)
			}
		}
	}
	for k, v := range s {
		if k != "type" && k != "properties" && k != "required" {
			out.ExtraFields[k] = v
		}
	}
	return out, nil
}
