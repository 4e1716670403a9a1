package service

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// ReusePortKey is the setting that lets replicas of a service on one
// machine share the port of its public HTTP server (Listen).
const ReusePortKey = "HTTP_REUSEPORT"

// Listen opens the TCP listener of one of the service's public HTTP
// servers. With HTTP_REUSEPORT=true it sets SO_REUSEPORT first, so every
// replica of the service on the machine (same user) listens on the same
// address and the kernel spreads new connections between them; a replica
// that stops takes only its own queued connections with it. Off by
// default: a second process on a taken port is then an error, as it should
// be when nothing is meant to share it.
func (e *Env) Listen(ctx context.Context, addr string) (net.Listener, error) {
	reuse := false
	if v, ok := e.Config.Lookup(ReusePortKey); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q is not a boolean", ReusePortKey, v)
		}
		reuse = b
	}
	var lc net.ListenConfig
	if reuse {
		lc.Control = reusePort
	}
	return lc.Listen(ctx, "tcp", addr)
}
