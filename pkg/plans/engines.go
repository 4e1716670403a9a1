package plans

import (
	"fmt"
	"strings"
)

// Engines is the operator's choice of engine per plan (the compute
// service's RUNTIME_ENGINES setting, "team=openclaw,pro=runtime"). A plan
// it does not name runs on its catalog Engine.
type Engines map[string]string

// ParseEngines parses a RUNTIME_ENGINES setting: comma-separated
// plan=engine items naming known plans and engines. It does not check
// that a plan is big enough for its engine: that is For's answer, so one
// plan set too small is refused when an instance takes it, not by every
// instance of every plan.
func ParseEngines(spec string) (Engines, error) {
	e := Engines{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, engine, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("RUNTIME_ENGINES %q: want plan=engine[,plan=engine]", spec)
		}
		id, engine = strings.TrimSpace(id), strings.TrimSpace(engine)
		if _, err := Lookup(id); err != nil {
			return nil, fmt.Errorf("RUNTIME_ENGINES: %w", err)
		}
		if engine != EngineRuntime && engine != EngineOpenClaw {
			return nil, fmt.Errorf("RUNTIME_ENGINES: %w: %q (want %q or %q)", ErrUnknownEngine, engine, EngineRuntime, EngineOpenClaw)
		}
		if prev, dup := e[id]; dup && prev != engine {
			return nil, fmt.Errorf("RUNTIME_ENGINES %q: plan %s named twice", spec, id)
		}
		e[id] = engine
	}
	return e, nil
}

// For returns p on the engine e chooses for it (its catalog engine when e
// does not name it), or an error wrapping ErrEngineTooSmall when the
// chosen engine needs more memory than p has.
func (e Engines) For(p Plan) (Plan, error) {
	engine, ok := e[p.ID]
	if !ok {
		engine = p.Engine
	}
	if engine == "" {
		engine = EngineRuntime
	}
	return p.WithEngine(engine)
}
