package store

import (
	"context"
	"encoding/json"

	"github.com/parley-dev/parley"
)

// Rename is what RenameParticipant changed.
type Rename struct {
	// Participant is the renamed participant as the document shows it.
	Participant parley.Participant
	// OldName is the name shown before.
	OldName string
	// Texts tells whether any generated text (title, summaries, topics,
	// action items) was rewritten.
	Texts bool
}

// RenameParticipant sets the name a user gave a speaker ("" or the
// default name removes the correction) and rewrites the texts the
// language model wrote with the old name: title, short and long summary,
// topic titles and summaries, subject summaries and action items (owners
// by participant id; free text by whole-word replacement, skipped when
// another participant shows the same old name, where it would be
// ambiguous). Everything, and the events that announce it (PARTICIPANTS,
// then FINAL_TITLE, FINAL_SHORT_SUMMARY, FINAL_LONG_SUMMARY, ACTION_ITEMS
// for what changed), happens in one transaction.
func (db *DB) RenameParticipant(ctx context.Context, transcriptID, participantID, name string) (*Rename, error) {
	transcriptID, err := ParseID(transcriptID)
	if err != nil {
		return nil, err
	}
	if name, err = parley.CleanName(name); err != nil {
		return nil, err
	}
	var res Rename
	err = db.InTx(ctx, func(tx *DB) error {
		if err := tx.lockTranscript(ctx, transcriptID, "rename participant"); err != nil {
			return err
		}
		ps, err := tx.ListParticipants(ctx, transcriptID)
		if err != nil {
			return err
		}
		var p *parley.Participant
		for i := range ps {
			if ps[i].ID == participantID {
				p = &ps[i]
			}
		}
		if p == nil {
			return parley.Errorf(parley.ENOTFOUND, "transcript %s has no participant %q", transcriptID, participantID)
		}
		def := p.Name
		if p.DefaultName != "" {
			def = p.DefaultName
		}
		custom := name
		if custom == def {
			custom = ""
		}
		if _, err := tx.q.Exec(ctx, `UPDATE participants SET custom_name = $3 WHERE transcript_id = $1 AND id = $2`,
			transcriptID, participantID, custom); err != nil {
			return wrapDBError("rename participant", err)
		}
		res.OldName = p.Name
		res.Participant = *p
		res.Participant.Name, res.Participant.DefaultName = def, ""
		if custom != "" {
			res.Participant.Name, res.Participant.DefaultName = custom, def
		}
		newName := res.Participant.Name
		ambiguous := false
		for _, o := range ps {
			if o.ID != participantID && o.Name == res.OldName {
				ambiguous = true
			}
		}
		for i := range ps {
			if ps[i].ID == participantID {
				ps[i] = res.Participant
			}
		}
		if _, err := tx.AppendEvent(ctx, transcriptID, parley.EventParticipants, parley.ParticipantsData{Participants: ps}); err != nil {
			return err
		}
		if newName == res.OldName {
			return nil
		}
		res.Texts, err = tx.rewriteName(ctx, transcriptID, participantID, res.OldName, newName, ambiguous)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// rewriteName replaces a speaker's old name with the new one in the
// generated texts of a transcript (see RenameParticipant) and announces
// the changed ones.
func (tx *DB) rewriteName(ctx context.Context, tid, pid, old, new string, ambiguous bool) (bool, error) {
	repl := func(s string) string {
		if ambiguous {
			return s
		}
		return parley.ReplaceName(s, old, new)
	}
	var title, short, long string
	var itemsJSON []byte
	err := tx.q.QueryRow(ctx, `SELECT title, short_summary, long_summary, action_items FROM transcripts WHERE id = $1`, tid).
		Scan(&title, &short, &long, &itemsJSON)
	if err != nil {
		return false, wrapDBError("rename participant", err)
	}
	var items parley.ActionItems
	if err := unmarshalOptional(itemsJSON, &items); err != nil {
		return false, wrapDBError("rename participant", err)
	}
	newItems, itemsChanged := renameInItems(items, pid, old, new, ambiguous, repl)
	upd := TranscriptUpdate{}
	var events []func() error
	changed := false
	if t := repl(title); t != title {
		upd.Title, changed = &t, true
		events = append(events, func() error {
			_, err := tx.AppendEvent(ctx, tid, parley.EventFinalTitle, parley.FinalTitleData{Title: t})
			return err
		})
	}
	if s := repl(short); s != short {
		upd.ShortSummary, changed = &s, true
		events = append(events, func() error {
			_, err := tx.AppendEvent(ctx, tid, parley.EventFinalShortSummary, parley.FinalShortSummaryData{ShortSummary: s})
			return err
		})
	}
	if l := repl(long); l != long {
		upd.LongSummary, changed = &l, true
		events = append(events, func() error {
			_, err := tx.AppendEvent(ctx, tid, parley.EventFinalLongSummary, parley.FinalLongSummaryData{LongSummary: l})
			return err
		})
	}
	if itemsChanged {
		upd.ActionItems, changed = &newItems, true
		events = append(events, func() error {
			_, err := tx.AppendEvent(ctx, tid, parley.EventActionItems, parley.ActionItemsData{ActionItems: newItems})
			return err
		})
	}
	if changed {
		if err := tx.UpdateTranscript(ctx, tid, upd); err != nil {
			return false, err
		}
	}
	if !ambiguous {
		n, err := tx.rewriteRows(ctx, `SELECT idx, title, summary FROM topics WHERE transcript_id = $1`,
			`UPDATE topics SET title = $3, summary = $4 WHERE transcript_id = $1 AND idx = $2`, tid, repl)
		if err != nil {
			return false, err
		}
		m, err := tx.rewriteRows(ctx, `SELECT idx, detailed_summary, paragraph_summary FROM subjects WHERE transcript_id = $1`,
			`UPDATE subjects SET detailed_summary = $3, paragraph_summary = $4 WHERE transcript_id = $1 AND idx = $2`, tid, repl)
		if err != nil {
			return false, err
		}
		changed = changed || n > 0 || m > 0
	}
	for _, emit := range events {
		if err := emit(); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// rewriteRows applies repl to the two text columns of rows (idx, a, b)
// and writes back the changed ones; it returns how many changed.
func (tx *DB) rewriteRows(ctx context.Context, sel, upd, tid string, repl func(string) string) (int, error) {
	type row struct {
		idx  int
		a, b string
	}
	rows, err := tx.q.Query(ctx, sel, tid)
	if err != nil {
		return 0, wrapDBError("rename participant", err)
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.idx, &r.a, &r.b); err != nil {
			rows.Close()
			return 0, wrapDBError("rename participant", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrapDBError("rename participant", err)
	}
	n := 0
	for _, r := range all {
		a, b := repl(r.a), repl(r.b)
		if a == r.a && b == r.b {
			continue
		}
		if _, err := tx.q.Exec(ctx, upd, tid, r.idx, a, b); err != nil {
			return 0, wrapDBError("rename participant", err)
		}
		n++
	}
	return n, nil
}

// renameInItems renames a participant in action items: owner fields that
// carry the participant id always, owner fields without an id that equal
// the old name and free text through repl.
func renameInItems(items parley.ActionItems, pid, old, new string, ambiguous bool, repl func(string) string) (parley.ActionItems, bool) {
	b, _ := json.Marshal(items)
	var out parley.ActionItems
	_ = json.Unmarshal(b, &out) // a deep copy
	owner := func(name, id string) string {
		switch {
		case id == pid:
			return new
		case id == "" && !ambiguous && name == old:
			return new
		}
		return name
	}
	for i := range out.Decisions {
		d := &out.Decisions[i]
		d.DecidedBy = owner(d.DecidedBy, d.DecidedByParticipantID)
		d.Decision, d.Rationale = repl(d.Decision), repl(d.Rationale)
	}
	for i := range out.NextSteps {
		n := &out.NextSteps[i]
		n.AssignedTo = owner(n.AssignedTo, n.AssignedToParticipantID)
		n.Task, n.Context = repl(n.Task), repl(n.Context)
	}
	a, _ := json.Marshal(items)
	c, _ := json.Marshal(out)
	return out, string(a) != string(c)
}
