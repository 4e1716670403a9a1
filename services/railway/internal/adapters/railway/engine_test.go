package railway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
)

// openclawImage is an OpenClaw image as the runbook pins it (a made-up
// digest: the test server pulls nothing).
const openclawImage = "ghcr.io/clawdbot/openclaw-runtime:2026.9.6@sha256:6d1f0c5a8e4b3d2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f"

// engineConfig decodes the runtime configuration the driver set on svc.
func engineConfig(t *testing.T, vars map[string]string) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal([]byte(vars[railway.RuntimeConfigVar]), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestOpenClawEngineOnRailway: a plan on the openclaw engine deploys the
// pinned OpenClaw image with the plan's limits, and the runtime is told its
// engine; other plans keep the runtime image; a resize across engines
// switches the image and the limits.
func TestOpenClawEngineOnRailway(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t, func(o *railway.Options) {
		o.Engines = plans.Engines{plans.Team: plans.EngineOpenClaw}
		o.OpenClawImage = openclawImage
	})
	team, _ := plans.Lookup(plans.Team)
	req := h.request(t)
	req.Plan = team
	provision(t, d, req)
	svc := h.only(t, req.CustomerID)
	if svc.Image != openclawImage || svc.VCPUs != team.VCPUs || svc.MemoryGB != float64(team.MemoryMB)/1024 {
		t.Errorf("team service: image %q, %v vCPUs, %v GB; want %q, %v, %v",
			svc.Image, svc.VCPUs, svc.MemoryGB, openclawImage, team.VCPUs, float64(team.MemoryMB)/1024)
	}
	if cfg := engineConfig(t, svc.Variables); cfg["engine"] != plans.EngineOpenClaw || cfg["plan"] != plans.Team {
		t.Errorf("runtime config: engine %v, plan %v; want openclaw, team", cfg["engine"], cfg["plan"])
	}

	// A plan on the runtime engine keeps today's image.
	other := h.request(t)
	provision(t, d, other)
	if svc := h.only(t, other.CustomerID); svc.Image != image || engineConfig(t, svc.Variables)["engine"] != plans.EngineRuntime {
		t.Errorf("starter service: image %q, engine %v; want %q on the runtime engine", svc.Image, engineConfig(t, svc.Variables)["engine"], image)
	}

	// Down to starter: the runtime image, the smaller limits, the engine.
	starter, _ := plans.Lookup(plans.Starter)
	if err := d.Resize(context.Background(), req.CustomerID, starter); err != nil {
		t.Fatalf("Resize to starter: %v", err)
	}
	svc = h.only(t, req.CustomerID)
	if svc.Image != image || svc.MemoryGB != float64(starter.MemoryMB)/1024 || engineConfig(t, svc.Variables)["engine"] != plans.EngineRuntime {
		t.Errorf("after the resize: image %q, %v GB, engine %v", svc.Image, svc.MemoryGB, engineConfig(t, svc.Variables)["engine"])
	}

	// A plan too small for the engine is refused before anything is sent.
	small := h.driver(t, func(o *railway.Options) {
		o.Engines = plans.Engines{plans.Pro: plans.EngineOpenClaw}
		o.OpenClawImage = openclawImage
	})
	pro, _ := plans.Lookup(plans.Pro)
	bad := h.request(t)
	bad.Plan = pro
	if _, err := small.Provision(context.Background(), bad); !errors.Is(err, app.ErrRejected) || !errors.Is(err, plans.ErrEngineTooSmall) {
		t.Errorf("Provision pro on openclaw = %v, want ErrRejected wrapping ErrEngineTooSmall", err)
	}
}

// The OpenClaw image must be pinned by a real digest, and a plan on the
// openclaw engine needs one.
func TestOpenClawImageMustBePinned(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct {
		name, image string
		engines     plans.Engines
		want        string
	}{
		{"tag only", "ghcr.io/openclaw/openclaw:2026.9.6", nil, "pinned by digest"},
		{"short digest", "ghcr.io/openclaw/openclaw:2026.9.6@sha256:abc123", nil, "pinned by digest"},
		{"placeholder", "ghcr.io/openclaw/openclaw:2026.9.6@sha256:" + strings.Repeat("0", 64), nil, "placeholder digest"},
		{"no image", "", plans.Engines{plans.Team: plans.EngineOpenClaw}, "RAILWAY_OPENCLAW_IMAGE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := h.options()
			o.OpenClawImage, o.Engines = tt.image, tt.engines
			if _, err := railway.New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	if err := railway.CheckOpenClawImage(openclawImage); err != nil {
		t.Errorf("CheckOpenClawImage(%q) = %v", openclawImage, err)
	}
}
