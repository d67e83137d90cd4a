package api

import (
	"cmp"
	"context"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/pipeline"
	"github.com/parley-dev/parley/store"
)

// transcriptDoc is the transcript document (contract section 4); topics
// and words appear only when asked for.
type transcriptDoc struct {
	*parley.Transcript
	Topics *[]parley.Topic `json:"topics,omitempty"`
	Words  *[]parley.Word  `json:"words,omitempty"`
}

type createTranscriptRequest struct {
	Name     string  `json:"name"`
	Language string  `json:"language"`
	RoomID   *string `json:"room_id"`
}

func (s *Server) createTranscript(w http.ResponseWriter, r *http.Request) error {
	var req createTranscriptRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if err := validLanguage(req.Language); err != nil {
		return err
	}
	if len(req.Name) > 500 {
		return parley.Errorf(parley.EINVALID, "name: at most 500 characters")
	}
	if req.RoomID != nil {
		if _, err := s.db.GetRoom(r.Context(), *req.RoomID); err != nil {
			if parley.ErrorCode(err) == parley.ENOTFOUND {
				return parley.Errorf(parley.EINVALID, "room_id: room %q does not exist", *req.RoomID)
			}
			return err
		}
	}
	t, err := s.db.CreateTranscript(r.Context(), store.NewTranscript{Name: req.Name, SourceLanguage: req.Language, RoomID: req.RoomID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, transcriptDoc{Transcript: t})
	return nil
}

func validLanguage(l string) error {
	if l == "" {
		return nil
	}
	if len(l) > 10 || strings.IndexFunc(l, func(r rune) bool { return !unicode.IsLetter(r) && r != '-' }) >= 0 {
		return parley.Errorf(parley.EINVALID, "language: %q is not a language code such as \"en\"", l)
	}
	return nil
}

func (s *Server) listTranscripts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return parley.Errorf(parley.EINVALID, "limit: must be a number from 1 to 200")
		}
		limit = n
	}
	trashed := false
	if v := q.Get("trashed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return parley.Errorf(parley.EINVALID, "trashed: %q is not true or false", v)
		}
		trashed = b
	}
	items, next, err := s.db.ListTranscripts(r.Context(), store.ListFilter{Limit: limit, Before: q.Get("before"), Trashed: trashed})
	if err != nil {
		return err
	}
	docs := make([]transcriptDoc, len(items))
	for i, t := range items {
		if t.Participants, err = s.db.ListParticipants(r.Context(), t.ID); err != nil {
			return err
		}
		docs[i] = transcriptDoc{Transcript: t}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": docs, "next": next})
	return nil
}

// transcript loads the transcript named by the {id} path segment.
func (s *Server) transcript(r *http.Request) (*parley.Transcript, error) {
	return s.db.GetTranscript(r.Context(), r.PathValue("id"))
}

func (s *Server) getTranscript(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	doc := transcriptDoc{Transcript: t}
	for _, inc := range strings.Split(r.URL.Query().Get("include"), ",") {
		switch strings.TrimSpace(inc) {
		case "":
		case "topics":
			topics, err := s.db.ListTopics(r.Context(), t.ID, true)
			if err != nil {
				return err
			}
			if topics == nil {
				topics = []parley.Topic{}
			}
			doc.Topics = &topics
		case "words":
			words, err := s.db.ListWords(r.Context(), t.ID)
			if err != nil {
				return err
			}
			doc.Words = &words
		default:
			return parley.Errorf(parley.EINVALID, "include: unknown part %q (topics, words)", inc)
		}
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// audioTypes are the Content-Types accepted for uploaded tracks.
func audioType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "audio/") || mt == "video/webm" || mt == "video/mp4" || mt == "video/ogg" ||
		mt == "application/octet-stream" || mt == "application/ogg"
}

func (s *Server) uploadTrack(w http.ResponseWriter, r *http.Request) error {
	// At most MaxConcurrentUploads at once, each holding one part of the
	// body in memory (store.PartSize): memory stays bounded however many
	// clients upload, and however large their files.
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	default:
		w.Header().Set("Retry-After", "10")
		return withStatus(http.StatusTooManyRequests, parley.Errorf(parley.ETRANSIENT,
			"too many uploads at once (%d, PARLEY_MAX_CONCURRENT_UPLOADS): retry later", s.cfg.MaxConcurrentUploads))
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if t.Status == parley.StatusProcessing {
		return parley.Errorf(parley.ECONFLICT, "transcript %s is being processed; tracks cannot be added now", t.ID)
	}
	if t.DeletedAt != nil {
		return parley.Errorf(parley.ECONFLICT, "transcript %s is in the trash: restore it before adding tracks", t.ID)
	}
	// Checked again with the insert; this refuses before the body is read.
	if n, err := s.db.CountTracks(r.Context(), t.ID); err != nil {
		return err
	} else if n >= maxTracks {
		return parley.Errorf(parley.EINVALID, "transcript %s already has %d tracks, the most allowed", t.ID, n)
	}
	if r.ContentLength > s.cfg.MaxUploadBytes {
		return withStatus(http.StatusRequestEntityTooLarge, parley.Errorf(parley.EINVALID,
			"the upload is %d bytes, more than the %d allowed (PARLEY_MAX_UPLOAD_BYTES)", r.ContentLength, s.cfg.MaxUploadBytes))
	}
	// The body's own deadline: longer than other routes', but not open-ended.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.UploadTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadBytes)
	ct := r.Header.Get("Content-Type")
	body, filename, size := r.Body, "", r.ContentLength
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
		filename = path.Base(params["filename"])
	}
	if strings.HasPrefix(ct, "multipart/form-data") {
		part, err := filePart(r)
		if err != nil {
			return err
		}
		defer part.Close()
		body, filename, size = part, part.FileName(), -1
		ct = part.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
	}
	if !audioType(ct) {
		return withStatus(http.StatusUnsupportedMediaType,
			parley.Errorf(parley.EINVALID, "Content-Type %q is not audio: send the raw file (audio/*, video/webm, application/octet-stream) or multipart field \"file\"", ct))
	}
	if size == 0 {
		return parley.Errorf(parley.EINVALID, "the uploaded file is empty")
	}
	ext := strings.ToLower(path.Ext(filename))
	if len(ext) > 6 || strings.ContainsAny(ext, "/\\") {
		ext = ""
	}
	key := fmt.Sprintf("%s/uploads/%s%s", t.ID, uuid.NewString(), ext)
	// Streamed to storage in parts of store.PartSize (size is -1 for
	// multipart and chunked bodies); never held whole.
	info, err := s.storage.Put(r.Context(), s.storage.Bucket(), key, body, size, ct)
	if err != nil {
		return err
	}
	// The cleanup must run even when the client has gone away.
	cleanup := func() { _ = s.storage.Delete(context.WithoutCancel(r.Context()), s.storage.Bucket(), key) }
	if info.Size == 0 {
		cleanup()
		return parley.Errorf(parley.EINVALID, "the uploaded file is empty")
	}
	if s.prober != nil {
		url, err := s.storage.Presign(r.Context(), s.storage.Bucket(), key)
		if err != nil {
			cleanup()
			return err
		}
		if err := s.prober.CheckAudio(r.Context(), url); err != nil {
			cleanup()
			name := filename
			if name == "" {
				name = "the uploaded file"
			}
			return parley.WrapError(parley.ErrorCode(err), err, "%s: %s", name, parley.ErrorMessage(err))
		}
	}
	idx, err := s.db.AddTrack(r.Context(), t.ID, parley.Track{Bucket: s.storage.Bucket(), Key: key, Name: parley.SpeakerFromFileName(filename)}, maxTracks)
	if err != nil {
		cleanup()
		return err
	}
	if t.Status == parley.StatusIdle {
		if _, err := s.db.SetStatus(r.Context(), t.ID, parley.StatusUploaded, nil); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"index": idx, "s3_key": key, "size": info.Size})
	return nil
}

// filePart returns the multipart part named "file", streaming (the body is
// never held in memory).
func filePart(r *http.Request) (*multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, parley.Errorf(parley.EINVALID, "invalid multipart body: %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, parley.Errorf(parley.EINVALID, "multipart body has no field \"file\"")
		}
		if p.FormName() == "file" {
			return p, nil
		}
		p.Close()
	}
}

type processRequest struct {
	Force bool `json:"force"`
}

func (s *Server) processTranscript(w http.ResponseWriter, r *http.Request) error {
	var req processRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	res, err := s.dispatcher.Process(r.Context(), t.ID, req.Force)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"workflow_run_id": res.WorkflowRunID, "transcript_id": t.ID, "resumed": res.Resumed})
	return nil
}

type triggerTrack struct {
	S3Key string `json:"s3_key"`
}

type triggerRequest struct {
	Tracks      []triggerTrack `json:"tracks"`
	BucketName  string         `json:"bucket_name"`
	RecordingID string         `json:"recording_id"`
	RoomName    string         `json:"room_name"`
	RoomID      string         `json:"room_id"`
	Language    string         `json:"language"`
	Name        string         `json:"name"`
}

// maxTracks bounds the tracks of one recording (the mixdown's timeout is
// sized for it).
const maxTracks = pipeline.MaxTracks

func (s *Server) process(w http.ResponseWriter, r *http.Request) error {
	var req triggerRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if len(req.Tracks) == 0 {
		return parley.Errorf(parley.EINVALID, "tracks: at least one track is needed")
	}
	if len(req.Tracks) > maxTracks {
		return parley.Errorf(parley.EINVALID, "tracks: at most %d tracks", maxTracks)
	}
	if err := validLanguage(req.Language); err != nil {
		return err
	}
	if len(req.RecordingID) > 200 {
		return parley.Errorf(parley.EINVALID, "recording_id: at most 200 characters")
	}
	bucket := req.BucketName
	if bucket == "" {
		bucket = s.storage.DailyBucket()
	}
	if !s.storage.AllowedBucket(bucket) {
		return parley.Errorf(parley.EINVALID, "bucket_name: %q is not a configured bucket", bucket)
	}
	roomID, err := s.resolveRoom(r, req.RoomID, req.RoomName)
	if err != nil {
		return err
	}
	tracks := make([]parley.Track, len(req.Tracks))
	for i, tr := range req.Tracks {
		if err := validKey(tr.S3Key); err != nil {
			return parley.Errorf(parley.EINVALID, "tracks[%d].s3_key: %s", i, parley.ErrorMessage(err))
		}
		if err := s.processableKey(bucket, tr.S3Key); err != nil {
			return parley.Errorf(parley.EINVALID, "tracks[%d].s3_key: %s", i, parley.ErrorMessage(err))
		}
		if _, err := s.storage.Stat(r.Context(), bucket, tr.S3Key); err != nil {
			if parley.ErrorCode(err) == parley.ENOTFOUND {
				return parley.Errorf(parley.EINVALID, "tracks[%d].s3_key: s3://%s/%s does not exist", i, bucket, tr.S3Key)
			}
			return err
		}
		tracks[i] = parley.Track{Index: i, Bucket: bucket, Key: tr.S3Key}
	}
	res, err := s.dispatcher.Trigger(r.Context(), pipeline.TriggerRequest{Tracks: tracks, RecordingID: req.RecordingID,
		RoomID: roomID, Name: req.Name, Language: req.Language})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"transcript_id": res.TranscriptID, "workflow_run_id": res.WorkflowRunID})
	return nil
}

func (s *Server) resolveRoom(r *http.Request, id, name string) (string, error) {
	switch {
	case id != "":
		if _, err := s.db.GetRoom(r.Context(), id); err != nil {
			if parley.ErrorCode(err) == parley.ENOTFOUND {
				return "", parley.Errorf(parley.EINVALID, "room_id: room %q does not exist", id)
			}
			return "", err
		}
		return id, nil
	case name != "":
		room, err := s.db.GetRoomByName(r.Context(), daily.RoomName(name))
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return "", nil // an unknown room has no settings to apply
		}
		if err != nil {
			return "", err
		}
		return room.ID, nil
	}
	return "", nil
}

// processableKey tells whether a new transcript may take bucket/key as a
// track: never an object under a transcript's own prefix in the working
// bucket (another transcript's upload or mix, which a consent denial of
// the new one must not delete), otherwise any key of DAILY_BUCKET, and in
// the working bucket only keys under PARLEY_PROCESS_PREFIXES.
func (s *Server) processableKey(bucket, key string) error {
	if bucket == s.storage.Bucket() {
		if owner, ok := pipeline.OwnedPrefix(key); ok {
			return parley.Errorf(parley.EINVALID, "s3://%s/%s belongs to transcript %s; upload the file again to use it", bucket, key, owner)
		}
	}
	if bucket == s.storage.DailyBucket() {
		return nil
	}
	for _, p := range s.cfg.ProcessPrefixes {
		if strings.HasPrefix(key, p) {
			return nil
		}
	}
	return parley.Errorf(parley.EINVALID, "s3://%s/%s: only keys in DAILY_BUCKET (%s) or under PARLEY_PROCESS_PREFIXES are accepted",
		bucket, key, s.storage.DailyBucket())
}

// validKey rejects S3 keys that try to escape their bucket or are not
// plain object names.
func validKey(key string) error {
	switch {
	case key == "":
		return parley.Errorf(parley.EINVALID, "empty key")
	case len(key) > 1024:
		return parley.Errorf(parley.EINVALID, "key longer than 1024 bytes")
	case strings.HasPrefix(key, "/"):
		return parley.Errorf(parley.EINVALID, "absolute keys are not allowed")
	case strings.Contains(key, "://"):
		return parley.Errorf(parley.EINVALID, "give a key within the bucket, not a URL")
	case strings.ContainsAny(key, "\\\x00"):
		return parley.Errorf(parley.EINVALID, "key contains a forbidden character")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." {
			return parley.Errorf(parley.EINVALID, "path traversal (%q) is not allowed", seg)
		}
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			return parley.Errorf(parley.EINVALID, "key contains a control character")
		}
	}
	return nil
}

func (s *Server) getTopics(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	topics, err := s.db.ListTopics(r.Context(), t.ID, true)
	if err != nil {
		return err
	}
	if topics == nil {
		topics = []parley.Topic{}
	}
	writeJSON(w, http.StatusOK, topics)
	return nil
}

func (s *Server) getSteps(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	steps, err := s.db.ListSteps(r.Context(), t.ID)
	if err != nil {
		return err
	}
	s.sortSteps(steps)
	writeJSON(w, http.StatusOK, map[string]any{"steps": steps})
	return nil
}

// sortSteps puts audit rows in the step table's order (a child step's rows
// by track, a fan-out child's by chunk or subject); steps the table does
// not know stay last, in time order.
func (s *Server) sortSteps(steps []parley.StepRecord) {
	rank := func(r parley.StepRecord) int {
		if i, ok := s.stepRank[r.Name]; ok {
			return i
		}
		return len(s.stepRank)
	}
	index := func(i *int) int {
		if i == nil {
			return -1
		}
		return *i
	}
	slices.SortStableFunc(steps, func(a, b parley.StepRecord) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(index(a.TrackIndex), index(b.TrackIndex)),
			cmp.Compare(index(a.ChildIndex), index(b.ChildIndex)))
	})
}

// getPipeline serves the step table: every step's name, label, parents,
// phase, policy and events, as the page draws them.
func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"workflow": pipeline.WorkflowPipeline, "steps": s.pipeline})
	return nil
}

func (s *Server) getAudio(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if t.AudioDeleted {
		return withStatus(http.StatusGone, parley.Errorf(parley.ENOTFOUND, "the audio of transcript %s was deleted (consent denied)", t.ID))
	}
	if t.AudioKey == "" {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s has no mixed audio yet", t.ID)
	}
	obj, info, err := s.storage.Get(r.Context(), s.storage.Bucket(), t.AudioKey)
	if err != nil {
		return err
	}
	defer obj.Close()
	// Streamed through the API (not a redirect to storage): same origin for
	// the page, and Range requests for seeking.
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeContent(w, r, "audio.mp3", info.ModTime, obj)
	return nil
}

func (s *Server) getWaveform(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	wave, err := s.db.Waveform(r.Context(), t.ID)
	if err != nil {
		return err
	}
	if len(wave) == 0 {
		return parley.Errorf(parley.ENOTFOUND, "transcript %s has no waveform yet", t.ID)
	}
	writeJSON(w, http.StatusOK, parley.WaveformData{Waveform: wave})
	return nil
}

func (s *Server) getWebVTT(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	words, err := s.db.ListWords(r.Context(), t.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/vtt; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s.vtt"`, t.ID))
	_, err = w.Write([]byte(s.webvtt(words, t.Participants)))
	return err
}

type consentRequest struct {
	ParticipantID string `json:"participant_id"`
	ConsentGiven  *bool  `json:"consent_given"`
}

func (s *Server) postConsent(w http.ResponseWriter, r *http.Request) error {
	var req consentRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.ConsentGiven == nil {
		return parley.Errorf(parley.EINVALID, "consent_given: required (true or false)")
	}
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	if err := s.db.AddConsent(r.Context(), t.ID, parley.Consent{ParticipantID: req.ParticipantID, ConsentGiven: *req.ConsentGiven}); err != nil {
		return err
	}
	resp := map[string]any{"consent_given": *req.ConsentGiven, "audio_deleted": t.AudioDeleted}
	if !*req.ConsentGiven {
		if t.Status == parley.StatusProcessing {
			// The run's cleanup_consent step (after the mixdown) deletes it.
			resp["cleanup"] = "pending: the running pipeline deletes the audio when it finishes"
		} else {
			if _, err := pipeline.DeleteAudio(r.Context(), s.db, s.storage, t.ID); err != nil {
				return err
			}
			resp["audio_deleted"] = true
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
