package httpapi

import (
	"errors"
	"net/http"

	"clawdbot.cloud/services/runtime/internal/respond"
	"clawdbot.cloud/services/runtime/internal/skills"
)

// SkillList is the answer to GET /api/skills.
type SkillList struct {
	Plan   string         `json:"plan"`
	Skills []skills.Skill `json:"skills"`
}

// listSkills answers GET /api/skills: the plan's skills, in plan order,
// and whether each is enabled.
func listSkills(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
		if err != nil {
			internalError(w, o, "read plan", err)
			return
		}
		list, err := skills.List(r.Context(), o.DB, plan)
		if err != nil {
			internalError(w, o, "list skills", err)
			return
		}
		respond.JSON(w, http.StatusOK, SkillList{Plan: plan.ID, Skills: list})
	})
}

// setSkill answers PUT (or PATCH) /api/skills/{name} {"enabled": bool}
// with the skill: 404 for a skill no plan has, 403 for one outside the
// customer's plan.
func setSkill(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Enabled *bool `json:"enabled"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Enabled == nil {
			respond.Error(w, http.StatusBadRequest, `field "enabled" is required: true or false`)
			return
		}
		plan, err := skills.CurrentPlan(r.Context(), o.DB, o.Plan)
		if err != nil {
			internalError(w, o, "read plan", err)
			return
		}
		s, err := skills.Set(r.Context(), o.DB, plan, r.PathValue("name"), *req.Enabled)
		switch {
		case errors.Is(err, skills.ErrUnknown):
			respond.Error(w, http.StatusNotFound, "unknown skill")
		case errors.Is(err, skills.ErrNotInPlan):
			respond.Error(w, http.StatusForbidden, err.Error()+"; upgrade to use it")
		case err != nil:
			internalError(w, o, "set skill", err)
		default:
			respond.JSON(w, http.StatusOK, s)
		}
	})
}
