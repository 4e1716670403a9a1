package neontest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// request is a validated request as a handler sees it.
type request struct {
	// p is the project the path names (nil for routes without one).
	p      *project
	params map[string]string
	query  url.Values
	body   []byte
}

// handler answers a request with a status and a body (nil: none). It runs
// under the server's lock.
type handler func(r request) (int, any)

func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"listProjectBranches":            s.listBranches,
		"createProjectBranch":            s.createBranch,
		"getProjectBranch":               s.getBranch,
		"deleteProjectBranch":            s.deleteBranch,
		"listProjectBranchEndpoints":     s.listEndpoints,
		"createProjectEndpoint":          s.createEndpoint,
		"getProjectBranchRole":           s.getRole,
		"getProjectBranchDatabase":       s.getDatabase,
		"resetProjectBranchRolePassword": s.resetPassword,
		"getConnectionURI":               s.connectionURI,
		"getProjectOperation":            s.getOperation,
		"suspendProjectEndpoint":         s.suspendEndpoint,
		"startProjectEndpoint":           s.startEndpoint,
		"createProject":                  s.createProject,
		"listProjects":                   s.listProjects,
		"getProject":                     s.getProject,
		"deleteProject":                  s.deleteProject,
	}
}

// seed makes the default branch "main" and the parent branch, whose role
// owns its database, migrated by Options.Prepare.
func (s *Server) seed(ctx context.Context) error {
	p := s.p
	main := p.newBranch("main", nil)
	main.api.Default = true
	p.main = main.api.Id
	p.newEndpoint(main, neonapi.EndpointStateIdle)
	parent := p.newBranch("parent", main)
	p.parent = parent.api.Id
	p.newEndpoint(parent, neonapi.EndpointStateIdle)
	now := p.now()
	role := &roleState{
		api:      neonapi.Role{BranchId: parent.api.Id, Name: s.opts.RoleName, CreatedAt: now, UpdatedAt: now},
		password: newPassword(),
		phys:     s.backend.name("r"),
	}
	db := &dbState{
		api: neonapi.Database{Id: int64(p.next()), BranchId: parent.api.Id, Name: s.opts.DatabaseName,
			OwnerName: s.opts.RoleName, CreatedAt: now, UpdatedAt: now},
		phys: s.backend.name("d"),
	}
	parent.roles[role.api.Name], parent.dbs[db.api.Name] = role, db
	return s.backend.createParent(ctx, role.phys, role.password, db.phys, s.opts.Prepare)
}

// ParentBranchID is the id of the branch customers' branches start from.
func (s *Server) ParentBranchID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.parent
}

// DefaultBranchID is the id of the project's default branch.
func (s *Server) DefaultBranchID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p.main
}

func (s *Server) listBranches(r request) (int, any) {
	search := r.query.Get("search")
	out := []neonapi.Branch{}
	for _, b := range r.p.branches {
		if !b.deleting && (search == "" || strings.Contains(b.api.Name, search) || strings.Contains(b.api.Id, search)) {
			out = append(out, b.api)
		}
	}
	slices.Reverse(out) // newest first, as Neon sorts by updated_at
	return http.StatusOK, map[string]any{"branches": out, "annotations": map[string]any{}}
}

func (s *Server) getBranch(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return notFound("branch")
	}
	return http.StatusOK, map[string]any{"branch": b.api, "annotation": neonapi.AnnotationData{
		Object: neonapi.AnnotationObjectData{Type: "console/branch", Id: b.api.Id}, Value: neonapi.AnnotationValueData{},
	}}
}

func (s *Server) createBranch(r request) (int, any) {
	var req neonapi.CreateProjectBranchJSONBody
	if err := json.Unmarshal(r.body, &req); err != nil {
		return badRequest(err.Error())
	}
	if r.p.busy() {
		return locked()
	}
	parentID, name := r.p.main, ""
	if req.Branch != nil && req.Branch.ParentId != nil && *req.Branch.ParentId != "" {
		parentID = *req.Branch.ParentId
	}
	if req.Branch != nil && req.Branch.Name != nil {
		name = *req.Branch.Name
	}
	parent := r.p.branch(parentID)
	if parent == nil {
		return notFound("parent branch")
	}
	if name == "" {
		name = fmt.Sprintf("br-%s", randomWord())
	}
	if req.Endpoints != nil {
		for i, e := range *req.Endpoints {
			if e.Type != neonapi.EndpointTypeReadWrite || i > 0 {
				return badRequest("neontest supports one read_write endpoint per branch")
			}
		}
	}
	if r.p.byName(name) != nil {
		return http.StatusConflict, neonapi.GeneralError{Message: fmt.Sprintf("branch with the provided name %q already exists", name)}
	}
	if len(r.p.branches) >= s.opts.BranchLimit {
		return limitExceeded("BRANCHES_LIMIT_EXCEEDED", "branches limit exceeded")
	}
	b := r.p.newBranch(name, parent)
	b.api.CurrentState = "init"
	ready := "ready"
	b.api.PendingState = &ready
	if err := s.inherit(context.Background(), r.p, parent, b); err != nil {
		s.violateLocked("create branch %s: %v", name, err)
		return http.StatusInternalServerError, generalError(err.Error())
	}
	ops := []*opState{r.p.newOp(neonapi.OperationActionCreateTimeline, b, nil, func(context.Context) error {
		b.api.CurrentState, b.api.PendingState = "ready", nil
		return nil
	})}
	if req.Endpoints != nil {
		for range *req.Endpoints {
			ep := r.p.newEndpoint(b, neonapi.EndpointStateInit)
			active := neonapi.EndpointStateActive
			ep.PendingState = &active
			ops = append(ops, r.p.newOp(neonapi.OperationActionStartCompute, b, ep, s.startCompute(b, ep)))
		}
	}
	return http.StatusCreated, neonapi.CreatedBranch{
		Branch: b.api, Endpoints: derefs(b.endpoints), Operations: apiOps(ops...),
		Roles: b.roleList(), Databases: b.dbList(),
	}
}

// inherit copies the parent's roles (passwords included) and databases to
// b, backed by clones.
func (s *Server) inherit(ctx context.Context, p *project, parent, b *branchState) error {
	now := p.now()
	for name, pr := range parent.roles {
		r := &roleState{api: pr.api, password: pr.password, phys: s.backend.name("r")}
		r.api.BranchId, r.api.CreatedAt, r.api.UpdatedAt = b.api.Id, now, now
		b.roles[name] = r
	}
	for name, pd := range parent.dbs {
		d := &dbState{api: pd.api, phys: s.backend.name("d")}
		d.api.Id, d.api.BranchId, d.api.CreatedAt, d.api.UpdatedAt = int64(p.next()), b.api.Id, now, now
		b.dbs[name] = d
		owner, ok := b.roles[pd.api.OwnerName]
		if !ok {
			return fmt.Errorf("database %s has no owner role on the parent", name)
		}
		if err := s.backend.clone(ctx, pd.phys, parent.roles[pd.api.OwnerName].phys, d.phys, owner.phys, owner.password); err != nil {
			return err
		}
	}
	return nil
}

// startCompute is the effect of a start_compute operation: the endpoint is
// active and the branch's roles can log in.
func (s *Server) startCompute(b *branchState, ep *neonapi.Endpoint) func(context.Context) error {
	return func(ctx context.Context) error {
		ep.CurrentState, ep.PendingState = neonapi.EndpointStateActive, nil
		for _, r := range b.roles {
			if err := s.backend.login(ctx, r.phys); err != nil {
				return err
			}
		}
		return nil
	}
}

func (s *Server) deleteBranch(r request) (int, any) {
	b := r.p.branch(r.params["branch_id"])
	if b == nil {
		return http.StatusNoContent, nil
	}
	if b.api.Default {
		return badRequest("the default branch cannot be deleted")
	}
	for _, c := range r.p.branches {
		if !c.deleting && c.api.ParentId != nil && *c.api.ParentId == b.api.Id {
			return badRequest("a branch that has child branches cannot be deleted")
		}
	}
	if r.p.busy() {
		return locked()
	}
	b.deleting = true
	var ops []*opState
	for _, ep := range b.endpoints {
		if ep.CurrentState == neonapi.EndpointStateActive {
			ops = append(ops, r.p.newOp(neonapi.OperationActionSuspendCompute, b, ep, nil))
		}
	}
	ops = append(ops, r.p.newOp(neonapi.OperationActionDeleteTimeline, b, nil, func(ctx context.Context) error {
		var dbs, roles []string
		for _, d := range b.dbs {
			dbs = append(dbs, d.phys)
		}
		for _, r := range b.roles {
			roles = append(roles, r.phys)
		}
		r.p.remove(b)
		return s.backend.drop(ctx, dbs, roles)
	}))
	return http.StatusOK, neonapi.BranchOperations{Branch: b.api, Operations: apiOps(ops...)}
}

func derefs[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func notFound(what string) (int, any) {
	return http.StatusNotFound, generalError(what + " not found")
}

func badRequest(msg string) (int, any) { return http.StatusBadRequest, generalError(msg) }

// limitExceeded is Neon's answer to a request over a plan limit: 422 with
// the limit's code (BRANCHES_LIMIT_EXCEEDED, PROJECTS_LIMIT_EXCEEDED), the
// GeneralError of the definition.
func limitExceeded(code, msg string) (int, any) {
	return http.StatusUnprocessableEntity, neonapi.GeneralError{Code: code, Message: msg}
}

func locked() (int, any) {
	return http.StatusLocked, generalError("project already has running conflicting operations, scheduling of new ones is prohibited")
}
