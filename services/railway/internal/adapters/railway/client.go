package railway

import (
	"context"
	"errors"
	"net/http"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// nonIdempotent are the operations that create something each time they
// run. The transport does not resend them after an answer that may have
// been lost; the driver looks for what they would have created instead.
var nonIdempotent = map[string]bool{
	"CreateService":  true,
	"CreateDomain":   true,
	"DeployInstance": true,
}

// operation is what the transport knows of the request it sends.
type operation struct {
	name       string
	idempotent bool
}

type operationKey struct{}

// operationFrom returns the operation of a request built by client.
func operationFrom(ctx context.Context) operation {
	if op, ok := ctx.Value(operationKey{}).(operation); ok {
		return op
	}
	return operation{name: "unknown", idempotent: false}
}

// client is the genqlient client with each request's operation recorded in
// its context, for the transport's retry policy and metrics.
type client struct{ inner graphql.Client }

// MakeRequest implements graphql.Client.
func (c client) MakeRequest(ctx context.Context, req *graphql.Request, resp *graphql.Response) error {
	ctx = context.WithValue(ctx, operationKey{}, operation{name: req.OpName, idempotent: !nonIdempotent[req.OpName]})
	return c.inner.MakeRequest(ctx, req, resp)
}

// ambiguous reports whether a request that failed with err may still have
// been carried out by Railway (a lost answer): a 5xx, a timeout, a broken
// connection. A GraphQL error, a 4xx, a rate limit or a connection never
// made mean it was not.
func ambiguous(err error) bool {
	var he *graphql.HTTPError
	var rl *RateLimitedError
	var gl gqlerror.List
	switch {
	case err == nil:
		return false
	case errors.As(err, &he):
		return he.StatusCode >= http.StatusInternalServerError
	case errors.As(err, &rl), errors.As(err, &gl), neverSent(err):
		return false
	}
	return true
}

// badRequest reports an operation Railway refused as malformed (HTTP 400):
// the schema changed under us, and sending it again cannot help.
func badRequest(err error) bool {
	var he *graphql.HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusBadRequest
}
