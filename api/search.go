package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
)

// search answers GET /v1/search?q=&limit=&room_id=&from=&to=: full-text
// search over the words (as speaker segments), titles and summaries of the
// transcripts that are not in the trash, best first.
func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sq := store.SearchQuery{Text: q.Get("q"), RoomID: q.Get("room_id")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return parley.Errorf(parley.EINVALID, "limit: must be a number from 1 to 100")
		}
		sq.Limit = n
	}
	var err error
	if sq.From, err = parseWhen("from", q.Get("from"), false); err != nil {
		return err
	}
	if sq.To, err = parseWhen("to", q.Get("to"), true); err != nil {
		return err
	}
	if sq.From != nil && sq.To != nil && !sq.From.Before(*sq.To) {
		return parley.Errorf(parley.EINVALID, "from: must be before to")
	}
	results, err := s.db.Search(r.Context(), sq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
	return nil
}

// parseWhen reads a from/to bound: RFC 3339, or a date (YYYY-MM-DD, UTC).
// A date as the upper bound includes that whole day.
func parseWhen(name, v string, upper bool) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return &t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, parley.Errorf(parley.EINVALID, "%s: %q is not a date (2026-11-22) or a time (2026-11-22T09:00:00Z)", name, v)
	}
	if upper {
		t = t.AddDate(0, 0, 1)
	}
	return &t, nil
}
