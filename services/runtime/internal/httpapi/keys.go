package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/apikey"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/respond"
)

// maxKeyName bounds a key's label.
const maxKeyName = 64

// KeyBody is an API key as its owner sees it: never the key itself, except
// in the answer that created it (Key).
type KeyBody struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// Key is the plaintext, present only in POST /api/keys's answer.
	Key string `json:"key,omitempty"`
}

// KeyList is the answer to GET /api/keys.
type KeyList struct {
	Keys []KeyBody `json:"keys"`
}

func keyBody(k customerdb.APIKey) KeyBody {
	return KeyBody{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt}
}

// listKeys answers GET /api/keys: every key, active first, newest first.
func listKeys(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys, err := customerdb.ListAPIKeys(r.Context(), o.DB)
		if err != nil {
			internalError(w, o, "list api keys", err)
			return
		}
		out := KeyList{Keys: make([]KeyBody, 0, len(keys))}
		for _, k := range keys {
			out.Keys = append(out.Keys, keyBody(k))
		}
		respond.JSON(w, http.StatusOK, out)
	})
}

// createKey answers POST /api/keys {"name"} with 201 and the new key, the
// only time its plaintext is shown. 409 past customerdb.MaxActiveAPIKeys.
func createKey(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if !decode(w, r, &req) {
			return
		}
		req.Name = strings.TrimSpace(req.Name)
		if utf8.RuneCountInString(req.Name) > maxKeyName || !utf8.ValidString(req.Name) || strings.ContainsFunc(req.Name, isControl) {
			respond.Error(w, http.StatusBadRequest, "name must be at most 64 printable characters")
			return
		}
		plain, err := apikey.Generate()
		if err != nil {
			internalError(w, o, "generate api key", err)
			return
		}
		k, err := customerdb.CreateAPIKey(r.Context(), o.DB, apikey.Hash(plain), apikey.Prefix(plain), req.Name)
		if errors.Is(err, customerdb.ErrTooManyKeys) {
			respond.Error(w, http.StatusConflict, "you already have "+strconv.Itoa(customerdb.MaxActiveAPIKeys)+" active keys; revoke one first")
			return
		}
		if err != nil {
			internalError(w, o, "create api key", err)
			return
		}
		o.Log.InfoContext(r.Context(), "api key created", "key_prefix", k.Prefix)
		body := keyBody(k)
		body.Key = plain
		w.Header().Set("Cache-Control", "no-store")
		respond.JSON(w, http.StatusCreated, body)
	})
}

// revokeKey answers DELETE /api/keys/{id} with 204; the key is refused from
// the next request on (every request looks its key up). 404 for no such key.
func revokeKey(o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			respond.Error(w, http.StatusBadRequest, "key id must be a positive whole number")
			return
		}
		ok, err := customerdb.RevokeAPIKey(r.Context(), o.DB, id)
		if err != nil {
			internalError(w, o, "revoke api key", err)
			return
		}
		if !ok {
			respond.Error(w, http.StatusNotFound, "no such key")
			return
		}
		o.Log.InfoContext(r.Context(), "api key revoked", "key_id", id)
		w.WriteHeader(http.StatusNoContent)
	})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
