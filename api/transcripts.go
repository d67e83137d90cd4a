package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/export"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// Speaker names, exports and the trash.

type renameRequest struct {
	Name *string `json:"name"`
}

// renameParticipant answers PATCH /v1/transcripts/{id}/participants/{participant_id}
// {name}: the speaker is shown with the new name everywhere ("" restores
// the default); the answer is the transcript document.
func (s *Server) renameParticipant(w http.ResponseWriter, r *http.Request) error {
	var req renameRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Name == nil {
		return parley.Errorf(parley.EINVALID, `name: required (a string; "" restores the default name)`)
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if _, err := s.db.RenameParticipant(r.Context(), t.ID, r.PathValue("participant_id"), *req.Name); err != nil {
		return err
	}
	if t, err = s.db.GetTranscript(r.Context(), t.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transcriptDoc{Transcript: t})
	return nil
}

// exportTranscript answers GET /v1/transcripts/{id}/export?format=: the
// transcript as srt, vtt, txt, md, json, or a zip of all of them with
// audio.mp3 (streamed).
func (s *Server) exportTranscript(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "zip" && export.ContentType(format) == "" {
		return parley.Errorf(parley.EINVALID, "format: %q is not one of srt, vtt, txt, md, json, zip", format)
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	d := export.Document{Transcript: t}
	if d.Words, err = s.db.ListWords(r.Context(), t.ID); err != nil {
		return err
	}
	if d.Topics, err = s.db.ListTopics(r.Context(), t.ID, false); err != nil {
		return err
	}
	w.Header().Set("Content-Type", export.ContentType(format))
	w.Header().Set("Content-Disposition", export.ContentDisposition(t.DisplayTitle(), format))
	w.Header().Set("Cache-Control", "no-store")
	if format != "zip" {
		return export.Render(w, format, d)
	}
	// Open the audio before the first byte is sent, so that a storage
	// failure is still an error answer.
	audio, err := s.openAudio(r.Context(), t)
	if err != nil {
		return err
	}
	if audio != nil {
		defer audio.Close()
	}
	err = export.WriteZip(w, d, func() (io.ReadCloser, bool, error) {
		if audio == nil {
			return nil, false, nil
		}
		return io.NopCloser(audio), true, nil
	}, t.UpdatedAt)
	if err != nil {
		// The answer has started: abort the connection so the client sees
		// a failed download, never a short ZIP that looks whole.
		s.log.ErrorContext(r.Context(), "zip export failed", slog.String("transcript_id", t.ID), slog.Any("error", err))
		panic(http.ErrAbortHandler)
	}
	return nil
}

// openAudio opens the transcript's MP3 for streaming (nil when it has
// none: not mixed yet, deleted after a consent denial, or missing).
func (s *Server) openAudio(ctx context.Context, t *parley.Transcript) (io.ReadCloser, error) {
	if t.AudioKey == "" || t.AudioDeleted {
		return nil, nil
	}
	obj, _, err := s.storage.Get(ctx, s.storage.Bucket(), t.AudioKey)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, nil
	}
	return obj, err
}

// deleteTranscript answers DELETE /v1/transcripts/{id}: to the trash, or
// with ?permanent=true for good (rows and every owned object). 409 while a
// run is active.
func (s *Server) deleteTranscript(w http.ResponseWriter, r *http.Request) error {
	permanent := false
	if v := r.URL.Query().Get("permanent"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return parley.Errorf(parley.EINVALID, "permanent: %q is not true or false", v)
		}
		permanent = b
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	active, err := s.dispatcher.RunActive(r.Context(), t)
	if err != nil {
		return err
	}
	if active {
		return parley.Errorf(parley.ECONFLICT, "transcript %s has a run in progress: wait for it to end (or cancel it) before deleting", t.ID)
	}
	// A status still "processing" here belongs to a run that is over.
	stale := t.Status == parley.StatusProcessing
	if permanent {
		deleted, err := pipeline.DeleteTranscript(r.Context(), s.db, s.storage, t.ID, stale)
		if err != nil {
			return err
		}
		s.log.InfoContext(r.Context(), "transcript deleted for good", slog.String("transcript_id", t.ID), slog.Int("objects", len(deleted)))
		writeJSON(w, http.StatusOK, map[string]any{"id": t.ID, "permanent": true, "deleted_objects": len(deleted)})
		return nil
	}
	t, err = s.db.Trash(r.Context(), t.ID, store.TrashOptions{DispatchLease: pipeline.DispatchLease, AllowProcessing: stale})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transcriptDoc{Transcript: t})
	return nil
}

// restoreTranscript answers POST /v1/transcripts/{id}/restore.
func (s *Server) restoreTranscript(w http.ResponseWriter, r *http.Request) error {
	var req struct{}
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if t, err = s.db.Restore(r.Context(), t.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, transcriptDoc{Transcript: t})
	return nil
}
