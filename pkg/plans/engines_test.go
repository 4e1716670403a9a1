package plans

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEngines(t *testing.T) {
	tests := []struct {
		spec    string
		want    Engines
		wantErr string
	}{
		{"", Engines{}, ""},
		{"team=openclaw", Engines{Team: EngineOpenClaw}, ""},
		{" team = openclaw , pro=runtime,", Engines{Team: EngineOpenClaw, Pro: EngineRuntime}, ""},
		{"pro=openclaw", Engines{Pro: EngineOpenClaw}, ""}, // too small: refused by For, per plan
		{"team:openclaw", nil, "want plan=engine"},
		{"gold=openclaw", nil, "unknown plan"},
		{"team=docker", nil, "unknown engine"},
		{"team=openclaw,team=runtime", nil, "named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseEngines(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEngines(%q) = %v, %v; want an error saying %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseEngines(%q) = %v, want %v", tt.spec, got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("ParseEngines(%q)[%s] = %q, want %q", tt.spec, k, got[k], v)
				}
			}
		})
	}
}

func TestEnginesFor(t *testing.T) {
	e, err := ParseEngines("team=openclaw,pro=openclaw")
	if err != nil {
		t.Fatal(err)
	}
	team, _ := Lookup(Team)
	starter, _ := Lookup(Starter)
	pro, _ := Lookup(Pro)
	if p, err := e.For(team); err != nil || p.Engine != EngineOpenClaw {
		t.Errorf("For(team) = %q, %v; want openclaw", p.Engine, err)
	}
	if p, err := e.For(starter); err != nil || p.Engine != EngineRuntime {
		t.Errorf("For(starter) = %q, %v; want its catalog engine, runtime", p.Engine, err)
	}
	if _, err := e.For(pro); !errors.Is(err, ErrEngineTooSmall) {
		t.Errorf("For(pro) = %v, want ErrEngineTooSmall", err)
	}
	if p, err := Engines(nil).For(team); err != nil || p.Engine != EngineRuntime {
		t.Errorf("nil Engines For(team) = %q, %v; want runtime", p.Engine, err)
	}
}
