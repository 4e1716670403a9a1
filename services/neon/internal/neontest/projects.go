package neontest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// createProject makes a project with its default branch, a role owning a
// database on it (empty, on the real Postgres server) and a read_write
// endpoint, as Neon does; over Options.ProjectLimit it answers 422
// PROJECTS_LIMIT_EXCEEDED.
func (s *Server) createProject(r request) (int, any) {
	var req neonapi.ProjectCreateRequest
	if err := json.Unmarshal(r.body, &req); err != nil {
		return badRequest(err.Error())
	}
	if len(s.projects) >= s.opts.ProjectLimit {
		return limitExceeded("PROJECTS_LIMIT_EXCEEDED", "projects limit exceeded")
	}
	s.seq++
	p := newProject(fmt.Sprintf("%s-%s-%06d", randomWord(), randomWord(), 100000+s.seq))
	p.name = p.id
	if req.Project.Name != nil {
		p.name = *req.Project.Name
	}
	branchName, dbName, roleName := "main", "neondb", ""
	if b := req.Project.Branch; b != nil {
		branchName = cmp.Or(deref(b.Name), branchName)
		dbName = cmp.Or(deref(b.DatabaseName), dbName)
		roleName = deref(b.RoleName)
	}
	roleName = cmp.Or(roleName, dbName+"_owner")
	main := p.newBranch(branchName, nil)
	main.api.Default = true
	p.main = main.api.Id
	now := p.now()
	role := &roleState{
		api:      neonapi.Role{BranchId: main.api.Id, Name: roleName, CreatedAt: now, UpdatedAt: now},
		password: newPassword(),
		phys:     s.backend.name("r"),
	}
	db := &dbState{
		api: neonapi.Database{Id: int64(p.next()), BranchId: main.api.Id, Name: dbName,
			OwnerName: roleName, CreatedAt: now, UpdatedAt: now},
		phys: s.backend.name("d"),
	}
	main.roles[roleName], main.dbs[dbName] = role, db
	noop := func(context.Context, *pgx.Conn) error { return nil }
	if err := s.backend.createParent(context.Background(), role.phys, role.password, db.phys, noop); err != nil {
		s.violateLocked("create project %s: %v", p.name, err)
		return http.StatusInternalServerError, generalError(err.Error())
	}
	ep := p.newEndpoint(main, neonapi.EndpointStateInit)
	active := neonapi.EndpointStateActive
	ep.PendingState = &active
	ops := []*opState{
		p.newOp(neonapi.OperationActionCreateTimeline, main, nil, nil),
		p.newOp(neonapi.OperationActionStartCompute, main, ep, s.startCompute(main, ep)),
	}
	s.projects = append(s.projects, p)
	uri := s.connURI(role, db)
	return http.StatusCreated, neonapi.CreatedProject{
		Project: s.apiProject(p), Branch: main.api, Endpoints: derefs(main.endpoints),
		Roles: main.roleList(), Databases: main.dbList(), Operations: apiOps(ops...),
		ConnectionUris: []neonapi.ConnectionDetails{{ConnectionUri: uri, ConnectionParameters: neonapi.ConnectionParameters{
			Database: dbName, Role: roleName, Password: role.password, Host: s.backend.host, PoolerHost: s.backend.host,
		}}},
	}
}

// listProjects lists the projects whose name or id contains search.
func (s *Server) listProjects(r request) (int, any) {
	search := r.query.Get("search")
	out := []neonapi.ProjectListItem{}
	for _, p := range s.projects {
		if search == "" || strings.Contains(p.name, search) || strings.Contains(p.id, search) {
			out = append(out, s.apiListItem(p))
		}
	}
	return http.StatusOK, map[string]any{"projects": out, "applications": map[string]any{}, "integrations": map[string]any{}}
}

func (s *Server) getProject(r request) (int, any) {
	return http.StatusOK, neonapi.ProjectResponse{Project: s.apiProject(r.p)}
}

// deleteProject removes the project with every branch and the Postgres
// databases and roles behind them (Neon answers at once, without
// operations). The project the server started with cannot be deleted.
func (s *Server) deleteProject(r request) (int, any) {
	if r.p == s.p {
		return badRequest("neontest keeps the project holding the parent branch")
	}
	var dbs, roles []string
	for _, b := range r.p.branches {
		for _, d := range b.dbs {
			dbs = append(dbs, d.phys)
		}
		for _, ro := range b.roles {
			roles = append(roles, ro.phys)
		}
	}
	if err := s.backend.drop(context.Background(), dbs, roles); err != nil {
		s.violateLocked("delete project %s: %v", r.p.id, err)
		return http.StatusInternalServerError, generalError(err.Error())
	}
	s.projects = slices.DeleteFunc(s.projects, func(p *project) bool { return p == r.p })
	return http.StatusOK, neonapi.ProjectResponse{Project: s.apiProject(r.p)}
}

// apiProject is p as getProject shows it.
func (s *Server) apiProject(p *project) neonapi.Project {
	now := p.now()
	return neonapi.Project{
		Id: p.id, Name: p.name, PlatformId: "aws", RegionId: "aws-us-east-2", PgVersion: 17,
		ProxyHost: "neontest.invalid", Provisioner: "k8s-neonvm", CreationSource: "neontest",
		BranchLogicalSizeLimit: 512, BranchLogicalSizeLimitBytes: 512 << 20, HistoryRetentionSeconds: 86400,
		OwnerId: "neontest-owner", CreatedAt: epoch, UpdatedAt: now,
		ConsumptionPeriodStart: epoch, ConsumptionPeriodEnd: epoch.AddDate(0, 1, 0),
	}
}

// apiListItem is p as listProjects shows it.
func (s *Server) apiListItem(p *project) neonapi.ProjectListItem {
	a := s.apiProject(p)
	return neonapi.ProjectListItem{
		Id: a.Id, Name: a.Name, PlatformId: a.PlatformId, RegionId: a.RegionId, PgVersion: a.PgVersion,
		ProxyHost: a.ProxyHost, Provisioner: a.Provisioner, CreationSource: a.CreationSource,
		BranchLogicalSizeLimit: a.BranchLogicalSizeLimit, BranchLogicalSizeLimitBytes: a.BranchLogicalSizeLimitBytes,
		OwnerId: a.OwnerId, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// Projects returns the ids of the live projects, the first one first.
func (s *Server) Projects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.projects))
	for _, p := range s.projects {
		out = append(out, p.id)
	}
	return out
}

// BranchCount returns how many branches project id holds (its default and
// parent branches included), or -1 if there is no such project.
func (s *Server) BranchCount(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.project(id); p != nil {
		return len(p.branches)
	}
	return -1
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
