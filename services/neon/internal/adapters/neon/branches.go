package neon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neonapi"
)

// branch is a customer's branch as the driver needs it.
type branch struct {
	// Project is the id of the project holding the branch.
	Project string
	ID      string
	// Endpoint is the branch's read_write compute endpoint.
	Endpoint neonapi.Endpoint
}

// maxListPages bounds the pages of one branch search: names are unique
// per customer, so a search matches a handful of branches at most.
const maxListPages = 20

// findBranches returns the customer's branches in place p, oldest first:
// the branches named name, or, where the customer owns the project, its
// default branch. Neon's search matches parts of names and ids, so the
// answer is filtered to the exact name. There is normally one; two can
// exist only if replicas raced, and then the oldest is the customer's.
func (d *Driver) findBranches(ctx context.Context, p place, name string) ([]neonapi.Branch, error) {
	search := name
	if p.Own {
		search = ""
	}
	found, err := d.listBranches(ctx, p.Project, search, func(b neonapi.Branch) bool {
		if p.Own {
			return b.Default
		}
		return b.Name == name
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b neonapi.Branch) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Id, b.Id))
	})
	return found, nil
}

// listBranches returns the branches of project that search (empty: all)
// finds and keep accepts.
func (d *Driver) listBranches(ctx context.Context, project, search string, keep func(neonapi.Branch) bool) ([]neonapi.Branch, error) {
	var found []neonapi.Branch
	params := &neonapi.ListProjectBranchesParams{}
	if search != "" {
		params.Search = &search
	}
	for range maxListPages {
		r, err := d.api.ListProjectBranchesWithResponse(ctx, project, params)
		if err := answer("list branches", r, err); err != nil {
			return nil, err
		}
		if r.JSON200 == nil {
			return nil, errMalformed("list branches")
		}
		for _, b := range r.JSON200.Branches {
			if keep(b) {
				found = append(found, b)
			}
		}
		p := r.JSON200.Pagination
		if p == nil || p.Next == nil || *p.Next == "" || len(r.JSON200.Branches) == 0 {
			break
		}
		params = &neonapi.ListProjectBranchesParams{Search: params.Search, Cursor: p.Next}
	}
	return found, nil
}

// ensureBranch finds the customer's branch in p, or creates it (named
// name) from the parent with a read_write endpoint, and waits for its
// operations. A project of the customer's own has its branch from birth.
func (d *Driver) ensureBranch(ctx context.Context, p place, name string) (branch, error) {
	found, err := d.findBranches(ctx, p, name)
	if err != nil {
		return branch{}, err
	}
	if len(found) == 0 && p.Own {
		return branch{}, fmt.Errorf("project %s: %w", p.Project, errNoBranch)
	}
	if len(found) == 0 {
		b, err := d.createBranch(ctx, p, name)
		if status(err) != http.StatusConflict {
			return b, err
		}
		// Another replica created it between the search and the create.
		if found, err = d.findBranches(ctx, p, name); err != nil {
			return branch{}, err
		}
		if len(found) == 0 {
			return branch{}, fmt.Errorf("create branch %s: Neon reports a conflict but lists no such branch", name)
		}
	}
	if len(found) > 1 {
		d.log.Warn("several branches carry one customer's name; using the oldest", "branch", name, "count", len(found))
	}
	b := found[0]
	if err := guard(p, b); err != nil {
		return branch{}, err
	}
	ep, err := d.readWriteEndpoint(ctx, p.Project, b.Id)
	if err != nil {
		return branch{}, err
	}
	return branch{Project: p.Project, ID: b.Id, Endpoint: ep}, nil
}

// guard refuses to treat the parent or a shared project's default branch
// as a customer's, whatever its name: deleting it would take every
// customer's schema (or the project's main data) with it. In a project of
// the customer's own the default branch is the customer's.
func guard(p place, b neonapi.Branch) error {
	if p.Own {
		return nil
	}
	if b.Id == p.Parent || b.Default {
		return fmt.Errorf("%w: branch %s (%s) is the parent or the project's default branch, not a customer's", app.ErrRejected, b.Name, b.Id)
	}
	return nil
}

// createBranch creates the branch named name from the parent, with a
// read_write compute endpoint, and waits until it is ready.
func (d *Driver) createBranch(ctx context.Context, p place, name string) (branch, error) {
	var body neonapi.CreateProjectBranchJSONRequestBody
	// The generated type nests the branch as an anonymous struct; decoding
	// {"branch":{}} allocates it without spelling out its fields.
	if err := json.Unmarshal([]byte(`{"branch":{}}`), &body); err != nil {
		return branch{}, err
	}
	body.Branch.Name, body.Branch.ParentId = &name, &p.Parent
	body.Endpoints = &[]neonapi.BranchCreateRequestEndpointOptions{{Type: neonapi.EndpointTypeReadWrite}}
	r, err := d.api.CreateProjectBranchWithResponse(ctx, p.Project, body)
	if err := answer("create branch", r, err); err != nil {
		return branch{}, fmt.Errorf("create branch %s: %w", name, err)
	}
	if r.JSON201 == nil {
		return branch{}, errMalformed("create branch")
	}
	created := r.JSON201
	d.log.Info("neon branch created", "branch", name, "branch_id", created.Branch.Id, "project_id", p.Project)
	if err := d.wait(ctx, p.Project, "create branch "+name, created.Operations); err != nil {
		return branch{}, err
	}
	for _, ep := range created.Endpoints {
		if ep.Type == neonapi.EndpointTypeReadWrite {
			return branch{Project: p.Project, ID: created.Branch.Id, Endpoint: ep}, nil
		}
	}
	return branch{}, fmt.Errorf("create branch %s: Neon created no read_write endpoint", name)
}

// readWriteEndpoint returns the branch's read_write endpoint, creating one
// if the branch has none (someone removed it; a branch without compute
// cannot be connected to).
func (d *Driver) readWriteEndpoint(ctx context.Context, project, branchID string) (neonapi.Endpoint, error) {
	r, err := d.api.ListProjectBranchEndpointsWithResponse(ctx, project, branchID)
	if err := answer("list endpoints", r, err); err != nil {
		return neonapi.Endpoint{}, fmt.Errorf("branch %s: %w", branchID, err)
	}
	if r.JSON200 == nil {
		return neonapi.Endpoint{}, errMalformed("list endpoints")
	}
	for _, ep := range r.JSON200.Endpoints {
		if ep.Type == neonapi.EndpointTypeReadWrite {
			return ep, nil
		}
	}
	d.log.Warn("customer branch has no read_write endpoint; creating one", "branch_id", branchID)
	var body neonapi.CreateProjectEndpointJSONRequestBody
	body.Endpoint.BranchId = branchID
	body.Endpoint.Type = neonapi.EndpointTypeReadWrite
	cr, err := d.api.CreateProjectEndpointWithResponse(ctx, project, body)
	if err := answer("create endpoint", cr, err); err != nil {
		return neonapi.Endpoint{}, fmt.Errorf("branch %s: %w", branchID, err)
	}
	if cr.JSON201 == nil {
		return neonapi.Endpoint{}, errMalformed("create endpoint")
	}
	if err := d.wait(ctx, project, "create endpoint on "+branchID, cr.JSON201.Operations); err != nil {
		return neonapi.Endpoint{}, err
	}
	return cr.JSON201.Endpoint, nil
}

// errNoBranch reports a customer without a branch where one is needed.
var errNoBranch = errors.New("the customer has no Neon branch")
