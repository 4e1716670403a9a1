package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/promreg"
	"clawdbot.cloud/pkg/telemetry"
)

// PlatformWorkspacePath is the runtime's endpoint for a delivery
// (services/runtime/internal/httpapi: PUT, the instance token only).
const PlatformWorkspacePath = "/platform/workspace"

// DefaultHandOverTimeout bounds one hand-over to an instance
// (WORKSPACE_HANDOVER_TIMEOUT).
const DefaultHandOverTimeout = 10 * time.Second

// How a build's workspace reached the customer's database, the label of
// claw_workspace_deliveries_total.
const (
	viaInstance = "instance" // the running instance wrote it
	viaDirect   = "direct"   // no instance was named: the service wrote it
	viaFallback = "fallback" // the instance did not take it: the service wrote it
)

func newDeliveries(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claw_workspace_deliveries_total",
		Help: "Workspaces delivered by a build, by how: through the running instance (instance), over the service's own " +
			"connection because no instance was named (direct) or because the instance did not take it (fallback).",
	}, []string{"via"})
	for _, via := range []string{viaInstance, viaDirect, viaFallback} {
		c.WithLabelValues(via)
	}
	c, err := promreg.Register(reg, c)
	if err != nil {
		return nil, fmt.Errorf("register workspace metrics: %w", err)
	}
	return c, nil
}

// newInstanceClient is the HTTP client of hand-overs: one request per new
// instance, so no connection is kept, and a redirect is an answer, never
// followed (the instance token goes to the instance's own URL only). Each
// hand-over is a client span of the signup's trace (tp; nil: the global
// provider).
func newInstanceClient(timeout time.Duration, tp trace.TracerProvider) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{
		Transport:     telemetry.TraceTransport(tr, tp),
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// handOver sends d to the instance at instanceURL with the customer's
// instance token; nil once the instance answered that it wrote it.
func (a *App) handOver(ctx context.Context, customerID, instanceURL string, d customerdb.Delivery) error {
	u, err := url.Parse(instanceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("instance URL is not an http(s) URL without credentials")
	}
	token, err := a.secrets.Get(ctx, names.InstanceTokenRef(customerID))
	if err != nil {
		return fmt.Errorf("instance token: %w", err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.JoinPath(PlatformWorkspacePath).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := a.instances.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("the instance answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
}
