package neon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// Placements: where a customer's database lives in Neon (Config.Placement,
// NEON_PLACEMENT).
const (
	// PlaceBranch gives every customer a branch of the parent in one
	// project (Config.ProjectID). Neon's branches-per-project limit bounds
	// the customers it holds.
	PlaceBranch = "branch"
	// PlaceProject gives every customer a project of its own (Neon's
	// database-per-user guidance); the projects-per-account limit bounds
	// the customers.
	PlaceProject = "project"
	// PlaceSharded spreads customers' branches across projects, each kept
	// under Config.BranchesPerProject: the configured project first, then
	// projects the driver makes (claw-shard-<n>) whose default branch is
	// their parent. Each customer's project is recorded in the control-plane
	// database before its branch is made.
	PlaceSharded = "sharded"
)

// place is where one customer's branch lives.
type place struct {
	// Project is the Neon project's id.
	Project string
	// Parent is the branch customers' branches start from (shared
	// projects).
	Parent string
	// Own marks a project of the customer's own: its default branch is the
	// customer's, and deleting the customer deletes the project.
	Own bool
}

// home is the configured project and parent.
func (d *Driver) home() place {
	return place{Project: d.cfg.ProjectID, Parent: d.cfg.ParentBranchID}
}

// locate returns where the customer whose database is named name lives,
// without making anything; ok is false when it lives nowhere.
func (d *Driver) locate(ctx context.Context, name string) (p place, ok bool, err error) {
	switch d.cfg.Placement {
	case PlaceProject:
		found, err := d.findProjects(ctx, name)
		if err != nil || len(found) == 0 {
			return place{}, false, err
		}
		return place{Project: found[0].Id, Own: true}, true, nil
	case PlaceSharded:
		p, ok, err := d.shards.lookup(ctx, name)
		if err != nil || ok {
			return p, ok, err
		}
		// Placed before sharding was configured: in the home project.
		return d.home(), true, nil
	default:
		return d.home(), true, nil
	}
}

// assign returns where the customer lives, placing it first if it lives
// nowhere yet: its own new project, or the first shard with room.
func (d *Driver) assign(ctx context.Context, name string) (place, error) {
	switch d.cfg.Placement {
	case PlaceProject:
		return d.ensureProject(ctx, name)
	case PlaceSharded:
		if p, ok, err := d.shards.lookup(ctx, name); err != nil || ok {
			return p, err
		}
		// A branch made before sharding was configured stays where it is.
		legacy, err := d.findBranches(ctx, d.home(), name)
		if err != nil {
			return place{}, err
		}
		if len(legacy) > 0 {
			return d.home(), nil
		}
		return d.shards.place(ctx, name, d.newShard)
	default:
		return d.home(), nil
	}
}

// forget removes the customer's placement record (sharded), once its
// branch is gone, so its slot in the shard is free again.
func (d *Driver) forget(ctx context.Context, name string) error {
	if d.cfg.Placement != PlaceSharded {
		return nil
	}
	return d.shards.forget(ctx, name)
}

// findProjects returns the projects named name (PlaceProject), oldest
// first; Neon's search matches parts of names and ids.
func (d *Driver) findProjects(ctx context.Context, name string) ([]neonapi.ProjectListItem, error) {
	var found []neonapi.ProjectListItem
	limit := projectPage
	params := &neonapi.ListProjectsParams{Search: &name, Limit: &limit}
	if d.cfg.OrgID != "" {
		params.OrgId = &d.cfg.OrgID
	}
	for range maxListPages {
		r, err := d.api.ListProjectsWithResponse(ctx, params)
		if err := answer("list projects", r, err); err != nil {
			return nil, err
		}
		if r.JSON200 == nil {
			return nil, errMalformed("list projects")
		}
		for _, p := range r.JSON200.Projects {
			if p.Name == name && p.Id != d.cfg.ProjectID {
				found = append(found, p)
			}
		}
		pg := r.JSON200.Pagination
		if pg == nil || pg.Cursor == "" || len(r.JSON200.Projects) < projectPage {
			break
		}
		params = &neonapi.ListProjectsParams{Search: &name, OrgId: params.OrgId, Limit: params.Limit, Cursor: &pg.Cursor}
	}
	if len(found) > 1 {
		d.log.Warn("several projects carry one name; using the oldest", "project", name, "count", len(found))
		oldest := found[0]
		for _, p := range found[1:] {
			if p.CreatedAt.Before(oldest.CreatedAt) || p.CreatedAt.Equal(oldest.CreatedAt) && p.Id < oldest.Id {
				oldest = p
			}
		}
		found[0] = oldest
	}
	return found, nil
}

// ensureProject finds the project named name, or creates it with the
// customer role owning the customer database on its default branch and a
// read_write endpoint; either way the database is migrated to the
// customer schema (idempotent), as the parent branch is for branches.
func (d *Driver) ensureProject(ctx context.Context, name string) (place, error) {
	found, err := d.findProjects(ctx, name)
	if err != nil {
		return place{}, err
	}
	var p place
	if len(found) > 0 {
		p = place{Project: found[0].Id, Own: true}
	} else {
		if p, err = d.createProject(ctx, name); err != nil {
			return place{}, err
		}
	}
	if err := d.migrateDefault(ctx, p); err != nil {
		return place{}, fmt.Errorf("project %s: %w", name, err)
	}
	return p, nil
}

// createProject creates the project named name (its default branch holds
// DatabaseName owned by RoleName) and waits for its operations.
func (d *Driver) createProject(ctx context.Context, name string) (place, error) {
	var body neonapi.CreateProjectJSONRequestBody
	if err := jsonInit(&body, `{"project":{"branch":{}}}`); err != nil {
		return place{}, err
	}
	body.Project.Name = &name
	body.Project.Branch.DatabaseName, body.Project.Branch.RoleName = &d.cfg.DatabaseName, &d.cfg.RoleName
	if d.cfg.OrgID != "" {
		body.Project.OrgId = &d.cfg.OrgID
	}
	if d.cfg.RegionID != "" {
		body.Project.RegionId = &d.cfg.RegionID
	}
	r, err := d.api.CreateProjectWithResponse(ctx, body)
	if err := answer("create project", r, err); err != nil {
		return place{}, fmt.Errorf("create project %s: %w", name, err)
	}
	if r.JSON201 == nil {
		return place{}, errMalformed("create project")
	}
	id := r.JSON201.Project.Id
	d.log.Info("neon project created", "project", name, "project_id", id)
	if err := d.wait(ctx, id, "create project "+name, r.JSON201.Operations); err != nil {
		return place{}, err
	}
	return place{Project: id, Own: true}, nil
}

// migrateDefault migrates the database on the default branch of p's
// project to the customer schema, through the role's direct URI.
func (d *Driver) migrateDefault(ctx context.Context, p place) error {
	b, err := d.ensureBranch(ctx, place{Project: p.Project, Own: true}, "")
	if err != nil {
		return err
	}
	uri, err := d.uri(ctx, b, false)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return fmt.Errorf("connect to the new database: %w", redact(err, uri))
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // read-only by now
	return PrepareParent(ctx, conn)
}

// newShard finds or creates the shard project of sequence number seq
// (claw-shard-<seq>) and migrates its default branch, the shard's parent.
func (d *Driver) newShard(ctx context.Context, seq int) (shard, error) {
	name := fmt.Sprintf("%s%d", ShardPrefix, seq)
	found, err := d.findProjects(ctx, name)
	if err != nil {
		return shard{}, err
	}
	var p place
	if len(found) > 0 {
		p = place{Project: found[0].Id, Own: true}
	} else if p, err = d.createProject(ctx, name); err != nil {
		return shard{}, err
	}
	if err := d.migrateDefault(ctx, p); err != nil {
		return shard{}, fmt.Errorf("shard %s: %w", name, err)
	}
	def, err := d.findBranches(ctx, p, "")
	if err != nil {
		return shard{}, err
	}
	if len(def) == 0 {
		return shard{}, fmt.Errorf("shard %s: %w", name, errNoBranch)
	}
	all, err := d.listBranches(ctx, p.Project, "", func(neonapi.Branch) bool { return true })
	if err != nil {
		return shard{}, err
	}
	return shard{Seq: seq, Project: p.Project, Parent: def[0].Id, Capacity: d.cfg.BranchesPerProject - len(all)}, nil
}

// projectPage is the most projects Neon lists in one answer.
const projectPage = 400

// ShardPrefix starts the name of every shard project the driver makes.
const ShardPrefix = "claw-shard-"

// errLimit reports Neon refusing a branch or project over a plan limit.
func errLimit(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == 422 && strings.HasSuffix(e.Code, "_LIMIT_EXCEEDED")
}

// lockKey is the advisory lock under which replicas place customers.
func lockKey(s string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return int64(h.Sum64())
}

// rejectLimit turns Neon's refusal over a plan limit into a permanent
// failure that says what to do.
func rejectLimit(err error, placement string) error {
	if !errLimit(err) {
		return err
	}
	hint := "raise the plan's branch limit or use NEON_PLACEMENT=sharded"
	switch placement {
	case PlaceProject:
		hint = "raise the plan's project limit or use NEON_PLACEMENT=sharded"
	case PlaceSharded:
		hint = "every shard is full and no project can be added: raise the plan's project limit, or its branch limit and NEON_BRANCHES_PER_PROJECT"
	}
	return fmt.Errorf("%w (placement %s: %s)", err, placement, hint)
}

// jsonInit decodes init into v: the generated request types nest anonymous
// structs, which decoding allocates without spelling out their fields.
func jsonInit(v any, init string) error { return json.Unmarshal([]byte(init), v) }

// redact removes the password of uri from err's text: a driver error may
// quote its connection string.
func redact(err error, uri string) error {
	u, perr := url.Parse(uri)
	if perr != nil || u.User == nil {
		return errors.New(strings.ReplaceAll(err.Error(), uri, "<uri>"))
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "<password>"))
}
