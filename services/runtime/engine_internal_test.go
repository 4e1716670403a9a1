package runtime

import (
	"errors"
	"testing"

	"clawdbot.cloud/pkg/plans"
)

func TestPlanEngine(t *testing.T) {
	tests := []struct {
		plan, engine, spec string
		want               string
		wantErr            error
	}{
		{plan: plans.Team, spec: "", want: plans.EngineRuntime},
		{plan: plans.Team, spec: "team=openclaw", want: plans.EngineOpenClaw},
		{plan: plans.Team, spec: " pro=runtime , team=openclaw ", want: plans.EngineOpenClaw},
		{plan: plans.Pro, spec: "team=openclaw", want: plans.EngineRuntime},
		{plan: plans.Pro, spec: "pro=openclaw", wantErr: plans.ErrEngineTooSmall},
		{plan: plans.Team, spec: "team=docker", wantErr: plans.ErrUnknownEngine},
		{plan: plans.Team, spec: "enterprise=openclaw", wantErr: plans.ErrUnknownPlan},
		{plan: plans.Team, spec: "team", wantErr: errSyntax},
		// The compute service's choice wins over RUNTIME_ENGINES.
		{plan: plans.Team, engine: plans.EngineOpenClaw, spec: "", want: plans.EngineOpenClaw},
		{plan: plans.Team, engine: plans.EngineRuntime, spec: "team=openclaw", want: plans.EngineRuntime},
		{plan: plans.Pro, engine: plans.EngineOpenClaw, wantErr: plans.ErrEngineTooSmall},
		{plan: plans.Team, engine: "docker", wantErr: plans.ErrUnknownEngine},
	}
	for _, tt := range tests {
		t.Run(tt.plan+"/"+tt.engine+"/"+tt.spec, func(t *testing.T) {
			p, _ := plans.Lookup(tt.plan)
			got, err := planEngine(p, tt.engine, tt.spec)
			switch {
			case tt.wantErr == errSyntax:
				if err == nil {
					t.Fatalf("planEngine(%q) accepted a malformed setting", tt.spec)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("planEngine(%q) error = %v, want %v", tt.spec, err, tt.wantErr)
			case err == nil && got.Engine != tt.want:
				t.Errorf("planEngine(%q) engine = %q, want %q", tt.spec, got.Engine, tt.want)
			}
		})
	}
}

// errSyntax marks a case expecting any error (a malformed setting).
var errSyntax = errors.New("syntax")
