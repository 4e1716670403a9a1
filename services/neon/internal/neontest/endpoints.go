package neontest

import (
	"context"
	"encoding/json"
	"net/http"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

func (s *Server) listEndpoints(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return notFound("branch")
	}
	return http.StatusOK, neonapi.EndpointsResponse{Endpoints: derefs(b.endpoints)}
}

func (s *Server) createEndpoint(r request) (int, any) {
	var req neonapi.CreateProjectEndpointJSONRequestBody
	if err := json.Unmarshal(r.body, &req); err != nil {
		return badRequest(err.Error())
	}
	b := r.p.branch(req.Endpoint.BranchId)
	if b == nil {
		return notFound("branch")
	}
	if req.Endpoint.Type != neonapi.EndpointTypeReadWrite || len(b.endpoints) > 0 {
		return http.StatusConflict, generalError("the branch already has a read_write endpoint")
	}
	if r.p.busy() {
		return locked()
	}
	ep := r.p.newEndpoint(b, neonapi.EndpointStateInit)
	op := r.p.newOp(neonapi.OperationActionStartCompute, b, ep, s.startCompute(b, ep))
	return http.StatusCreated, neonapi.EndpointOperations{Endpoint: *ep, Operations: apiOps(op)}
}

func (s *Server) getRole(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return notFound("branch")
	}
	role, ok := b.roles[r.params["role_name"]]
	if !ok {
		return notFound("role")
	}
	return http.StatusOK, neonapi.RoleResponse{Role: role.api}
}

func (s *Server) getDatabase(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return notFound("branch")
	}
	db, ok := b.dbs[r.params["database_name"]]
	if !ok {
		return notFound("database")
	}
	return http.StatusOK, neonapi.DatabaseResponse{Database: db.api}
}

// resetPassword gives the role a new password at once in the API; the
// compute applies it when the apply_config operation finishes.
func (s *Server) resetPassword(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return notFound("branch")
	}
	role, ok := b.roles[r.params["role_name"]]
	if !ok {
		return notFound("role")
	}
	if r.p.busy() {
		return locked()
	}
	role.password = newPassword()
	role.api.UpdatedAt = r.p.now()
	pw, phys := role.password, role.phys
	var ep *neonapi.Endpoint
	if len(b.endpoints) > 0 {
		ep = b.endpoints[0]
	}
	op := r.p.newOp(neonapi.OperationActionApplyConfig, b, ep, func(ctx context.Context) error {
		return s.backend.setPassword(ctx, phys, pw)
	})
	shown := role.api
	shown.Password = &pw
	return http.StatusOK, neonapi.RoleOperations{Role: shown, Operations: apiOps(op)}
}

// connectionURI answers with a URI on the real Postgres server: the
// branch's role (by its Postgres name) and current password, on the
// branch's database.
func (s *Server) connectionURI(r request) (int, any) {
	id := r.query.Get("branch_id")
	if id == "" {
		id = r.p.main
	}
	b := r.p.branch(id)
	if b == nil {
		return notFound("branch")
	}
	if ep := r.query.Get("endpoint_id"); ep != "" {
		if e, eb := r.p.endpoint(ep); e == nil || eb != b {
			return notFound("endpoint")
		}
	} else if len(b.endpoints) == 0 {
		return notFound("read_write endpoint")
	}
	role, ok := b.roles[r.query.Get("role_name")]
	if !ok {
		return notFound("role")
	}
	db, ok := b.dbs[r.query.Get("database_name")]
	if !ok {
		return notFound("database")
	}
	return http.StatusOK, neonapi.ConnectionURIResponse{Uri: s.connURI(role, db)}
}

func (s *Server) getOperation(r request) (int, any) {
	o := r.p.op(r.params["operation_id"])
	if o == nil {
		return notFound("operation")
	}
	return http.StatusOK, neonapi.OperationResponse{Operation: o.api}
}

func (s *Server) suspendEndpoint(r request) (int, any) {
	return s.setCompute(r, neonapi.OperationActionSuspendCompute, neonapi.EndpointStateIdle)
}

func (s *Server) startEndpoint(r request) (int, any) {
	return s.setCompute(r, neonapi.OperationActionStartCompute, neonapi.EndpointStateActive)
}

// setCompute schedules the operation that brings the endpoint to state.
func (s *Server) setCompute(r request, action neonapi.OperationAction, state neonapi.EndpointState) (int, any) {
	ep, b := r.p.endpoint(r.params["endpoint_id"])
	if ep == nil {
		return notFound("endpoint")
	}
	if r.p.busy() {
		return locked()
	}
	ep.PendingState = &state
	op := r.p.newOp(action, b, ep, func(ctx context.Context) error {
		ep.CurrentState, ep.PendingState = state, nil
		if state == neonapi.EndpointStateActive {
			return s.startCompute(b, ep)(ctx)
		}
		return nil
	})
	return http.StatusOK, neonapi.EndpointOperations{Endpoint: *ep, Operations: apiOps(op)}
}
