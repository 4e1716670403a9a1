package chat

import (
	"context"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/llm"
	"clawdbot.cloud/services/runtime/internal/tools"
)

// turn is one reserved turn: it settles its reservation with the stored
// reply, or releases it, with the tokens of the calls that answered.
type turn struct {
	s       *Service
	r       customerdb.Reservation
	spent   customerdb.UsageTotals
	settled bool
}

// release gives the reservation up unless the reply settled it: the turn
// failed before a reply was stored. The tokens of the calls that did answer
// were paid for, so they count (no message does). A release that fails is
// logged: the reservation then expires on its own (customerdb).
func (t *turn) release() {
	if t.settled {
		return
	}
	ctx, cancel := context.WithTimeout(t.s.background(), storeTimeout)
	defer cancel()
	if err := customerdb.ReleaseTurn(ctx, t.s.DB, t.r, t.spent); err != nil {
		t.s.Log.Error("chat: release the turn's quota", "err", err)
	}
}

// run is the reserved turn: store the message, ask the model, settle.
func (t *turn) run(ctx context.Context, plan plans.Plan, now time.Time, req Request, onEvent func(Result, Event) error) (Result, error) {
	s := t.s
	var err error
	if req.Agent, err = s.agent(ctx, plan, req); err != nil {
		return Result{}, err
	}
	res, err := s.storeMessage(ctx, req)
	if err != nil {
		return res, err
	}
	llmReq, enabled, err := s.request(ctx, plan, res, req, now)
	res.Agent = req.Agent
	if err != nil {
		return res, err
	}
	var offered []tools.Tool
	if s.Tools != nil {
		offered, llmReq.ServerTools = s.Tools.For(enabled)
		llmReq.Tools = tools.Specs(offered)
	}

	// Detached from the client: see the package comment.
	tctx, cancel := context.WithTimeout(s.background(), s.turnTimeout())
	defer cancel()
	a := &agent{s: s, res: res, offered: offered, message: req.Message, emit: forward(onEvent)}
	metered := llm.MetersUsage(s.Provider)
	var giveBack func() bool
	if metered && s.Lender != nil {
		giveBack = s.Lender.Lend(t.r)
	}
	reply, err := a.run(tctx, llmReq)
	if giveBack != nil && !giveBack() {
		// The turn's model call took the reservation: it counts the
		// message (or gives it up) where the call was made.
		t.r = customerdb.Reservation{}
	}
	if !metered {
		t.spent = customerdb.UsageTotals{InputTokens: a.in, OutputTokens: a.out}
	}
	res.ToolCalls = a.toolCalls
	if err != nil {
		return res, err
	}
	model := reply.Model
	if model == "" {
		model = s.Model
	}
	sctx, cancelStore := context.WithTimeout(s.background(), storeTimeout)
	defer cancelStore()
	// Counted once: here, or where the provider's calls were made.
	settle := customerdb.SettleTurn
	if metered {
		settle = customerdb.SettleMeteredTurn
	}
	stored, err := settle(sctx, s.DB, t.r, customerdb.Message{
		ConversationID: res.ConversationID, Content: a.text.String(), Model: model,
		InputTokens: a.in, OutputTokens: a.out,
	})
	if err != nil {
		return res, err
	}
	t.settled = true
	res.MessageID, res.Reply, res.Model = stored.ID, a.text.String(), model
	res.InputTokens, res.OutputTokens, res.StopReason = a.in, a.out, reply.StopReason
	return res, nil
}
