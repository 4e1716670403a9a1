package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"clawdbot.cloud/services/runtime/internal/chat"
)

// streamCompletion answers a streamed completion: "data: {chunk}" events
// (CreateChatCompletionStreamResponse), the first with the assistant's
// role, then the text as it comes, a last one with the finish reason, a
// usage chunk when asked for (stream_options.include_usage), then
// "data: [DONE]". Tool activity is not part of OpenAI's stream and is
// not sent. Until the first piece of text nothing is written, so an early
// failure is an ordinary error answer with its status; after it, an error
// object is sent in the stream.
func streamCompletion(w http.ResponseWriter, r *http.Request, o Options, rc *http.ResponseController, turn chat.Request, withUsage bool) {
	created := o.Now().Unix()
	var started bool
	var model string
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	chunk := func(res chat.Result, delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": completionID(res), "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	start := func(res chat.Result) error {
		if started {
			return nil
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		return send(chunk(res, map[string]any{"role": "assistant", "content": ""}, nil))
	}
	model = o.Chat.Model
	res, err := o.Chat.Turn(r.Context(), turn, func(res chat.Result, e chat.Event) error {
		if e.Tool != nil {
			return nil
		}
		if err := start(res); err != nil {
			return err
		}
		return send(chunk(res, map[string]any{"content": e.Text}, nil))
	})
	if err != nil && !started {
		writeCompletionError(w, o, err, res)
		return
	}
	if err != nil {
		_, body, _ := chatError(o, err, res)
		_ = send(map[string]any{"error": map[string]any{"message": body.Error, "type": "server_error", "param": nil, "code": nil}})
		return
	}
	if res.Model != "" {
		model = res.Model
	}
	_ = start(res)
	_ = send(chunk(res, map[string]any{}, finishReason(res)))
	if withUsage {
		_ = send(map[string]any{"id": completionID(res), "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{}, "usage": usageOf(res)})
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}
