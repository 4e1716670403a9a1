package skills

import (
	"context"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
)

// CurrentPlan is the plan the instance runs now: the one the workspace
// service last recorded in the customer's database (a plan change, applied
// without a restart), else base, the plan of the runtime's configuration.
// An id the catalog does not know is ignored in favour of base.
func CurrentPlan(ctx context.Context, db customerdb.DB, base plans.Plan) (plans.Plan, error) {
	id, err := customerdb.StoredPlan(ctx, db)
	if err != nil || id == "" || id == base.ID {
		return base, err
	}
	p, err := plans.Lookup(id)
	if err != nil {
		return base, nil
	}
	return p, nil
}
