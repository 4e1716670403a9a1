package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// screenshot answers GET /api/screenshots/{id}: a PNG the browser tool
// took, as linked from the tool call's result.
func screenshot(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			respond.Error(w, http.StatusNotFound, "screenshot not found")
			return
		}
		png, err := customerdb.Screenshot(r.Context(), o.DB, id)
		switch {
		case errors.Is(err, customerdb.ErrNotFound):
			respond.Error(w, http.StatusNotFound, "screenshot not found")
		case err != nil:
			internalError(w, o, "read screenshot", err)
		default:
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Cache-Control", "private, max-age=3600")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			_, _ = w.Write(png)
		}
	})
}
