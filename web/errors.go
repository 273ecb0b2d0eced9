package web

import (
	"encoding/json"
	"net/http"
)

// writeError answers {"error": msg}. msg is written for the client: it
// never carries a hash, a password or an internal error's text.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Compact: indenting was two thirds of the time of a /api/slots with
	// a thousand calls. `| jq .` makes it readable.
	_ = json.NewEncoder(w).Encode(v)
}
