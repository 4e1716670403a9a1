package httpapi

import (
	"errors"
	"net/http"

	"clawdbot.cloud/services/runtime/internal/agents"
	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// AgentList is the answer to GET /api/agents.
type AgentList struct {
	Agents []agents.Agent `json:"agents"`
}

// agentsAllowed answers 403 and returns false on a plan without named
// agents.
func agentsAllowed(w http.ResponseWriter, r *http.Request, o Options) bool {
	plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
	if err != nil {
		internalError(w, o, "read plan", err)
		return false
	}
	if !agents.Allowed(plan) {
		respond.Error(w, http.StatusForbidden, agents.ErrNotInPlan.Error()+"; the "+plan.Name+" plan runs one agent")
		return false
	}
	return true
}

// listAgents answers GET /api/agents: the named agents and their files.
func listAgents(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := agents.List(r.Context(), o.DB)
		if err != nil {
			internalError(w, o, "list agents", err)
			return
		}
		respond.JSON(w, http.StatusOK, AgentList{Agents: list})
	})
}

// putAgent answers PUT /api/agents/{name} {"soul", "identity"}: creates or
// replaces the agent (Team).
func putAgent(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Soul     string `json:"soul"`
			Identity string `json:"identity"`
		}
		if !decode(w, r, &req) || !agentsAllowed(w, r, o) {
			return
		}
		a := agents.Agent{Name: r.PathValue("name"), Soul: req.Soul, Identity: req.Identity}
		if err := agents.Put(r.Context(), o.DB, a); err != nil {
			if errors.Is(err, agents.ErrInvalidName) || errors.Is(err, agents.ErrInvalid) {
				respond.Error(w, http.StatusBadRequest, err.Error())
				return
			}
			internalError(w, o, "put agent", err)
			return
		}
		respond.JSON(w, http.StatusOK, a)
	})
}

// deleteAgent answers DELETE /api/agents/{name} with 204; its
// conversations stay.
func deleteAgent(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := agents.Delete(r.Context(), o.DB, r.PathValue("name"))
		switch {
		case errors.Is(err, agents.ErrNotFound):
			respond.Error(w, http.StatusNotFound, "no such agent")
		case err != nil:
			internalError(w, o, "delete agent", err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
