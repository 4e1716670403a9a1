package railway

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/app"
)

// A customer on the openclaw engine runs a second image: the official
// OpenClaw image, pinned by digest, with the runtime on top as its front
// door (deploy/openclaw/Dockerfile). Which plans run it is the compute
// service's RUNTIME_ENGINES (Options.Engines), and the engine reaches the
// runtime in its configuration, as on the process driver. The plan's
// vCPUs and memory are the service's limits either way (OpenClaw needs
// 2 GB, plans.MinOpenClawMemoryMB; its best-known failure is being killed
// for its memory).

// ErrImageNotPinned refuses an OpenClaw image not pinned by its digest.
var ErrImageNotPinned = errors.New("the openclaw image must be pinned by digest (name[:tag]@sha256:<64 hex>)")

// pinnedImage is an image reference pinned by a sha256 digest.
var pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?@sha256:([0-9a-f]{64})$`)

// CheckOpenClawImage returns nil when image is pinned by a real digest:
// name[:tag]@sha256:<64 hex digits>, not the all-zero placeholder of
// deploy/openclaw/Dockerfile.
func CheckOpenClawImage(image string) error {
	m := pinnedImage.FindStringSubmatch(image)
	if m == nil {
		return fmt.Errorf("%w: %q", ErrImageNotPinned, image)
	}
	if strings.Trim(m[2], "0") == "" {
		return fmt.Errorf("%w: %q has the placeholder digest (docs/runbooks/openclaw-rollout.md says how to pin it)", ErrImageNotPinned, image)
	}
	return nil
}

// checkEngines refuses options under which a plan would run the openclaw
// engine without a pinned OpenClaw image.
func checkEngines(o Options) error {
	if o.OpenClawImage != "" {
		return CheckOpenClawImage(o.OpenClawImage)
	}
	for _, p := range plans.All() {
		if q, err := o.Engines.For(p); err == nil && q.Engine == plans.EngineOpenClaw {
			return fmt.Errorf("plan %s runs the openclaw engine: OpenClawImage (RAILWAY_OPENCLAW_IMAGE) is required", p.ID)
		}
	}
	return nil
}

// engineOf returns plan on the engine the options choose for it, or an
// error wrapping app.ErrRejected when it is too small for it.
func (d *Driver) engineOf(plan plans.Plan) (plans.Plan, error) {
	p, err := d.o.Engines.For(plan)
	if err != nil {
		return plans.Plan{}, fmt.Errorf("%w: %w", app.ErrRejected, err)
	}
	return p, nil
}

// imageOf is the image a plan's service runs.
func (d *Driver) imageOf(plan plans.Plan) string {
	if plan.Engine == plans.EngineOpenClaw {
		return d.o.OpenClawImage
	}
	return d.o.Image
}
