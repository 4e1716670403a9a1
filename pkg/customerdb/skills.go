package customerdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SkillSettings returns the customer's skill switches by skill name. A skill
// without an entry has never been switched: it is on if the plan grants it.
func SkillSettings(ctx context.Context, db DB) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT name, enabled FROM skill_settings`)
	if err != nil {
		return nil, fmt.Errorf("read skill settings: %w", err)
	}
	settings := make(map[string]bool)
	var name string
	var enabled bool
	_, err = pgx.ForEachRow(rows, []any{&name, &enabled}, func() error {
		settings[name] = enabled
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read skill settings: %w", err)
	}
	return settings, nil
}

// SetSkillEnabled switches a skill on or off. Whether the plan grants the
// skill is the caller's business; the setting is kept either way, so it
// applies again after a downgrade and a later upgrade.
func SetSkillEnabled(ctx context.Context, db DB, name string, enabled bool) error {
	const q = `
INSERT INTO skill_settings (name, enabled) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, updated_at = now()
WHERE skill_settings.enabled IS DISTINCT FROM excluded.enabled`
	if _, err := db.Exec(ctx, q, name, enabled); err != nil {
		return fmt.Errorf("set skill %s enabled=%t: %w", name, enabled, err)
	}
	return nil
}
