package neontest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"clawdbot.cloud/services/neon/internal/neonapi"
)

// project is the server's state: one Neon project.
type project struct {
	id       string
	name     string
	seq      int
	branches []*branchState // in creation order; deleted ones are removed
	ops      []*opState
	main     string // the default branch's id
	parent   string // the parent branch's id
}

// branchState is a branch with what lives on it.
type branchState struct {
	api       neonapi.Branch
	endpoints []*neonapi.Endpoint
	roles     map[string]*roleState
	dbs       map[string]*dbState
	// deleting hides a branch whose deletion was accepted; it leaves the
	// project when its delete operation finishes.
	deleting bool
}

// roleState is a role of a branch: its current password (as the API
// reports it) and the Postgres role that stands for it.
type roleState struct {
	api      neonapi.Role
	password string
	phys     string
}

// dbState is a database of a branch and the Postgres database behind it.
type dbState struct {
	api  neonapi.Database
	phys string
}

// opState is an operation and what happens when it finishes.
type opState struct {
	api neonapi.Operation
	// fail, when set, is the status the operation ends with instead of
	// finished (FailNext).
	fail neonapi.OperationStatus
	// effect runs when the operation finishes.
	effect func(ctx context.Context) error
}

func newProject(id string) *project { return &project{id: id, name: id} }

// epoch is the start of the server's fake time; every object made advances
// it by a second, so creation times order objects deterministically.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (p *project) now() time.Time { return epoch.Add(time.Duration(p.seq) * time.Second) }

// next returns a fresh sequence number (and moves fake time on).
func (p *project) next() int { p.seq++; return p.seq }

// branch returns the live branch with id, or nil.
func (p *project) branch(id string) *branchState {
	for _, b := range p.branches {
		if b.api.Id == id && !b.deleting {
			return b
		}
	}
	return nil
}

// byName returns the live branch named name, or nil.
func (p *project) byName(name string) *branchState {
	for _, b := range p.branches {
		if b.api.Name == name && !b.deleting {
			return b
		}
	}
	return nil
}

// endpoint returns the live endpoint with id and its branch.
func (p *project) endpoint(id string) (*neonapi.Endpoint, *branchState) {
	for _, b := range p.branches {
		if b.deleting {
			continue
		}
		for _, ep := range b.endpoints {
			if ep.Id == id {
				return ep, b
			}
		}
	}
	return nil, nil
}

// busy reports whether an operation of the project is still running; Neon
// then answers requests that start operations with 423 Locked.
func (p *project) busy() bool {
	for _, o := range p.ops {
		if o.api.Status == neonapi.OperationStatusScheduling || o.api.Status == neonapi.OperationStatusRunning {
			return true
		}
	}
	return false
}

// newBranch adds a branch named name.
func (p *project) newBranch(name string, parent *branchState) *branchState {
	n := p.next()
	now := p.now()
	b := &branchState{
		api: neonapi.Branch{
			Id: fmt.Sprintf("br-%s-%d", randomWord(), 100000+n), ProjectId: p.id, Name: name,
			CurrentState: "ready", StateChangedAt: now, CreatedAt: now, UpdatedAt: now,
			CreationSource: "neontest",
		},
		roles: map[string]*roleState{},
		dbs:   map[string]*dbState{},
	}
	if parent != nil {
		b.api.ParentId = &parent.api.Id
		init := "parent-data"
		b.api.InitSource = &init
	}
	p.branches = append(p.branches, b)
	return b
}

// newEndpoint adds a read_write endpoint to b in state.
func (p *project) newEndpoint(b *branchState, state neonapi.EndpointState) *neonapi.Endpoint {
	n := p.next()
	now := p.now()
	id := fmt.Sprintf("ep-%s-%d", randomWord(), 100000+n)
	ep := &neonapi.Endpoint{
		Id: id, Host: id + ".neontest.invalid", ProxyHost: "neontest.invalid",
		ProjectId: p.id, BranchId: b.api.Id, RegionId: "aws-us-east-2",
		AutoscalingLimitMinCu: 0.25, AutoscalingLimitMaxCu: 1,
		Type: neonapi.EndpointTypeReadWrite, CurrentState: state,
		PoolerEnabled: true, PoolerMode: neonapi.EndpointPoolerModeTransaction,
		CreationSource: "neontest", CreatedAt: now, UpdatedAt: now,
		Provisioner: "k8s-neonvm", SuspendTimeoutSeconds: 300,
	}
	b.endpoints = append(b.endpoints, ep)
	return ep
}

// newOp schedules an operation of action on branch b (and endpoint ep).
func (p *project) newOp(action neonapi.OperationAction, b *branchState, ep *neonapi.Endpoint, effect func(context.Context) error) *opState {
	now := p.now()
	o := &opState{
		api: neonapi.Operation{
			Id: uuid.New(), ProjectId: p.id, Action: action,
			Status: neonapi.OperationStatusScheduling, CreatedAt: now, UpdatedAt: now,
		},
		effect: effect,
	}
	if b != nil {
		o.api.BranchId = &b.api.Id
	}
	if ep != nil {
		o.api.EndpointId = &ep.Id
	}
	p.ops = append(p.ops, o)
	return o
}

// op returns the operation with id, or nil.
func (p *project) op(id string) *opState {
	for _, o := range p.ops {
		if o.api.Id.String() == id {
			return o
		}
	}
	return nil
}

// remove takes b out of the project.
func (p *project) remove(b *branchState) {
	for i, x := range p.branches {
		if x == b {
			p.branches = append(p.branches[:i], p.branches[i+1:]...)
			return
		}
	}
}

// roles lists b's roles as the API shows them (no passwords).
func (b *branchState) roleList() []neonapi.Role {
	out := []neonapi.Role{}
	for _, r := range b.roles {
		out = append(out, r.api)
	}
	return out
}

// dbList lists b's databases.
func (b *branchState) dbList() []neonapi.Database {
	out := []neonapi.Database{}
	for _, d := range b.dbs {
		out = append(out, d.api)
	}
	return out
}

// apiOps returns the API view of ops.
func apiOps(ops ...*opState) []neonapi.Operation {
	out := make([]neonapi.Operation, 0, len(ops))
	for _, o := range ops {
		out = append(out, o.api)
	}
	return out
}

// newPassword returns a password in Neon's style.
func newPassword() string {
	return "npg_" + rand.Text()[:16]
}

// randomWord is a lower-case word for ids.
func randomWord() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// connURI is the URI the server hands out for a role on a database.
func (s *Server) connURI(r *roleState, d *dbState) string {
	u := url.URL{
		Scheme: "postgresql",
		User:   url.UserPassword(r.phys, r.password),
		Host:   s.backend.host,
		Path:   "/" + d.phys,
	}
	if s.backend.sslmode != "" {
		u.RawQuery = url.Values{"sslmode": {s.backend.sslmode}}.Encode()
	}
	return u.String()
}

// project returns the live project with id, or nil.
func (s *Server) project(id string) *project {
	for _, p := range s.projects {
		if p.id == id {
			return p
		}
	}
	return nil
}
