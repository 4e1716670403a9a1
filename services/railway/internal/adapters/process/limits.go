package process

import (
	"fmt"
	"math"
	"strconv"

	"clawdbot.cloud/services/railway/internal/store"
)

// childEnv is a runtime's environment: the configured base (model-provider
// settings and the like; never the service's own environment, which holds
// the control-plane database URL and the encryption key), then the plan's
// limits and the instance marker. Later entries win over earlier ones.
//
// Plan limits a Go program honours by itself:
//   - memory: GOMEMLIMIT at 90% of the plan's MemoryMB, a soft limit that
//     makes the Go runtime collect harder before it exceeds the plan;
//   - CPU: GOMAXPROCS at the plan's vCPUs rounded up, bounding parallelism.
//
// The hard limits are the runtime's cgroup's when isolation is on (see
// Isolation); without it (not root) these are all there is. RLIMIT_AS does
// not fit Go programs, which reserve far more address space than they use.
// The Railway driver applies the plan as the service's real resource limits.
func childEnv(o *Options, in store.Instance) []string {
	base := o.Env
	env := make([]string, 0, len(base)+4)
	env = append(env, base...)
	env = append(env, o.openClawEnv(in)...)
	env = append(env, limitEnv(in.VCPUs, in.MemoryMB)...)
	return append(env, MarkerEnv+"="+in.ServiceName)
}

// limitEnv maps a plan's compute size onto Go runtime settings.
func limitEnv(vcpus float64, memoryMB int) []string {
	var env []string
	if memoryMB > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", memoryMB*9/10))
	}
	if vcpus > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(max(1, int(math.Ceil(vcpus)))))
	}
	return env
}
