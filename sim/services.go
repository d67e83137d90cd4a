package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DailyRecording is a recording the simulated Daily knows, with its
// meeting's participants. Recording is served as is by GET
// /v1/recordings/{id} (it needs "id"; "mtgSessionId" links the
// participants, "start_ts" orders listings); Participants by GET
// /v1/meetings/{mtgSessionId}/participants (each needs
// "participant_id").
type DailyRecording struct {
	// Recording is Daily's recording object.
	Recording map[string]any `json:"recording"`
	// Participants are Daily's participant objects of its meeting.
	Participants []map[string]any `json:"participants"`
}

// LoadDailyFixtures reads recordings from a JSON file holding one
// DailyRecording or a list of them (the -daily-fixtures flag).
func LoadDailyFixtures(path string) ([]DailyRecording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("daily fixtures: %w", err)
	}
	var list []DailyRecording
	if err := json.Unmarshal(b, &list); err != nil {
		var one DailyRecording
		if err2 := json.Unmarshal(b, &one); err2 != nil {
			return nil, fmt.Errorf("daily fixtures %s: not a recording or a list of recordings: %w", path, err)
		}
		list = []DailyRecording{one}
	}
	return list, nil
}

type dailyStore struct {
	mu   sync.Mutex
	recs map[string]DailyRecording
}

func newDailyStore() *dailyStore { return &dailyStore{recs: map[string]DailyRecording{}} }

func (d *dailyStore) add(rec DailyRecording) error {
	id, _ := rec.Recording["id"].(string)
	if id == "" {
		return fmt.Errorf("recording.id is required")
	}
	for i, p := range rec.Participants {
		if pid, _ := p["participant_id"].(string); pid == "" {
			return fmt.Errorf("recording %s: participants[%d].participant_id is required", id, i)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recs[id] = rec
	return nil
}

// sorted returns the recordings newest first (start_ts, then id).
func (d *dailyStore) sorted() []DailyRecording {
	d.mu.Lock()
	all := make([]DailyRecording, 0, len(d.recs))
	for _, rec := range d.recs {
		all = append(all, rec)
	}
	d.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		ti, _ := all[i].Recording["start_ts"].(float64)
		tj, _ := all[j].Recording["start_ts"].(float64)
		if ti != tj {
			return ti > tj
		}
		return fmt.Sprint(all[i].Recording["id"]) < fmt.Sprint(all[j].Recording["id"])
	})
	return all
}

// addRecording registers a recording: POST /_sim/daily/recordings.
func (s *Server) addRecording(w http.ResponseWriter, r *http.Request) {
	var in DailyRecording
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	if err := s.daily.add(in); err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, 201, in.Recording)
}

// listRecordings answers every registered recording with its
// participants: GET /_sim/daily/recordings.
func (s *Server) listRecordings(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.daily.sorted())
}

// dailyAuth answers 401 like Daily when there is no bearer token.
func dailyAuth(w http.ResponseWriter, e *Request) bool {
	if e.Auth != "bearer" {
		writeJSON(w, 401, map[string]string{"error": "authentication-error", "info": "no API key (Authorization: Bearer) given"})
		return false
	}
	return true
}

func (s *Server) dailyRecording(w http.ResponseWriter, r *http.Request, e *Request) {
	if !dailyAuth(w, e) {
		return
	}
	s.daily.mu.Lock()
	rec, ok := s.daily.recs[r.PathValue("id")]
	s.daily.mu.Unlock()
	if !ok {
		writeJSON(w, 404, map[string]string{"error": "not-found", "info": "recording not found"})
		return
	}
	writeJSON(w, 200, rec.Recording)
}

// dailyRecordings lists recordings newest first, filtered by room_name,
// paginated with limit (default and maximum 100) and starting_after or
// ending_before (recording ids).
func (s *Server) dailyRecordings(w http.ResponseWriter, r *http.Request, e *Request) {
	if !dailyAuth(w, e) {
		return
	}
	room := r.URL.Query().Get("room_name")
	var all []map[string]any
	for _, rec := range s.daily.sorted() {
		if room == "" || rec.Recording["room_name"] == room {
			all = append(all, rec.Recording)
		}
	}
	writeJSON(w, 200, map[string]any{"total_count": len(all), "data": page(all, r, "id")})
}

// page cuts a list by limit and starting_after / ending_before (ids under
// idKey); an unknown cursor gives an empty page.
func page(all []map[string]any, r *http.Request, idKey string) []map[string]any {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > 100 {
		limit = 100
	}
	index := func(id string) int {
		for i, x := range all {
			if fmt.Sprint(x[idKey]) == id {
				return i
			}
		}
		return -1
	}
	from, to := 0, len(all)
	if after := q.Get("starting_after"); after != "" {
		from = index(after) + 1
		if from == 0 {
			from = len(all)
		}
	}
	if before := q.Get("ending_before"); before != "" {
		to = max(index(before), 0)
		// The page just before the cursor.
		from = max(from, to-limit)
	}
	out := []map[string]any{}
	for i := from; i < to && len(out) < limit; i++ {
		out = append(out, all[i])
	}
	return out
}

// dailyParticipants lists a meeting's participants; like Daily it answers
// 404 past the last page.
func (s *Server) dailyParticipants(w http.ResponseWriter, r *http.Request, e *Request) {
	if !dailyAuth(w, e) {
		return
	}
	id := r.PathValue("id")
	var ps []map[string]any
	found := false
	for _, rec := range s.daily.sorted() {
		if rec.Recording["mtgSessionId"] == id {
			ps, found = rec.Participants, true
		}
	}
	if !found {
		writeJSON(w, 404, map[string]string{"error": "not-found", "info": "meeting not found"})
		return
	}
	data := page(ps, r, "participant_id")
	if len(data) == 0 && (r.URL.Query().Get("starting_after") != "" || r.URL.Query().Get("ending_before") != "") {
		writeJSON(w, 404, map[string]string{"error": "not-found", "info": "no more participants"})
		return
	}
	writeJSON(w, 200, map[string]any{"data": data})
}

// ZulipMessage is a message the simulated Zulip holds.
type ZulipMessage struct {
	// ID is the id answered to the post (edits use it).
	ID int64 `json:"id"`
	// Stream, Topic and Content are the form fields to, topic and content
	// (after any edits).
	Stream  string `json:"stream"`
	Topic   string `json:"topic"`
	Content string `json:"content"`
	// Edits counts the PATCHes.
	Edits int `json:"edits"`
	// Time of the post (UTC).
	Time time.Time `json:"time"`
}

type zulipStore struct {
	mu   sync.Mutex
	msgs []ZulipMessage
}

func (s *Server) zulipPost(w http.ResponseWriter, r *http.Request, e *Request) {
	if e.Auth != "basic" {
		writeJSON(w, 401, map[string]string{"result": "error", "msg": "missing basic auth"})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("to") == "" || r.PostForm.Get("content") == "" {
		writeJSON(w, 400, map[string]string{"result": "error", "msg": "to and content are required"})
		return
	}
	e.Fields = map[string]string{"type": r.PostForm.Get("type"), "to": r.PostForm.Get("to"), "topic": r.PostForm.Get("topic")}
	s.zulip.mu.Lock()
	id := int64(1000 + len(s.zulip.msgs) + 1)
	s.zulip.msgs = append(s.zulip.msgs, ZulipMessage{ID: id, Stream: r.PostForm.Get("to"), Topic: r.PostForm.Get("topic"),
		Content: r.PostForm.Get("content"), Time: time.Now().UTC()})
	s.zulip.mu.Unlock()
	writeJSON(w, 200, map[string]any{"result": "success", "msg": "", "id": id})
}

func (s *Server) zulipPatch(w http.ResponseWriter, r *http.Request, e *Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"result": "error", "msg": "bad form"})
		return
	}
	s.zulip.mu.Lock()
	defer s.zulip.mu.Unlock()
	for i := range s.zulip.msgs {
		if s.zulip.msgs[i].ID == id {
			if c := r.PostForm.Get("content"); c != "" {
				s.zulip.msgs[i].Content = c
			}
			if t := r.PostForm.Get("topic"); t != "" {
				s.zulip.msgs[i].Topic = t
			}
			s.zulip.msgs[i].Edits++
			writeJSON(w, 200, map[string]any{"result": "success", "msg": ""})
			return
		}
	}
	writeJSON(w, 404, map[string]string{"result": "error", "msg": "Invalid message(s)"})
}

func (s *Server) zulipMessages(w http.ResponseWriter, r *http.Request) {
	s.zulip.mu.Lock()
	defer s.zulip.mu.Unlock()
	writeJSON(w, 200, append([]ZulipMessage{}, s.zulip.msgs...))
}

// webhookSink records whatever is posted to /webhook/{name}: the raw
// body and every header (Authorization only as "present").
func (s *Server) webhookSink(w http.ResponseWriter, r *http.Request, e *Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	e.Body = string(b)
	for k, v := range r.Header {
		if k == "Authorization" {
			e.Headers[k] = "present"
			continue
		}
		e.Headers[k] = strings.Join(v, ", ")
	}
	e.Fields = map[string]string{"name": r.PathValue("name")}
	writeJSON(w, 200, map[string]string{"status": "received"})
}
