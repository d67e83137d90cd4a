package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// Input is the DiarizationPipeline input: ids only. Tracks, participants
// and every result live in the database; task outputs carry ids, counts
// and S3 keys.
type Input struct {
	TranscriptID string `json:"transcript_id"`
	RecordingID  string `json:"recording_id,omitempty"`
	RoomID       string `json:"room_id,omitempty"`
	Language     string `json:"language"`
}

// Subject returns the transcript the input belongs to (for observers).
func (in Input) Subject() string { return in.TranscriptID }

// emit stores an event (and so announces it); see store.AppendEvent.
func (s *Steps) emit(ctx context.Context, tid, name string, data any) error {
	if _, err := s.DB.AppendEvent(ctx, tid, name, data); err != nil {
		return fmt.Errorf("emit %s: %w", name, err)
	}
	return nil
}

// GetRecordingOutput is get_recording's output.
type GetRecordingOutput struct {
	RecordingID  string `json:"recording_id,omitempty"`
	MtgSessionID string `json:"mtg_session_id,omitempty"`
	Duration     *int   `json:"duration,omitempty"`
	Skipped      string `json:"skipped,omitempty"`
}

// GetRecording checks the input, marks the transcript processing under
// this run and fetches the Daily recording's metadata (skipped for uploads
// without a recording id, or when Daily is not configured). A run started
// outside Parley's API (another Hatchet SDK, the dashboard's trigger
// button) is a run like any other: the transcript takes the run id from
// the run's own context, and a transcript without tracks fails here, at
// once, without retries.
func (s *Steps) GetRecording(ctx context.Context, in Input) (GetRecordingOutput, error) {
	if in.TranscriptID == "" {
		return GetRecordingOutput{}, parley.Errorf(parley.EINVALID,
			"input: transcript_id is required ({\"transcript_id\": \"…\", \"language\": \"en\"})")
	}
	t, err := s.DB.GetTranscript(ctx, in.TranscriptID)
	if err != nil {
		return GetRecordingOutput{}, err
	}
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return GetRecordingOutput{}, err
	}
	if len(trs) == 0 {
		return GetRecordingOutput{}, parley.Errorf(parley.EINVALID,
			"transcript %s has no tracks: upload at least one (POST /v1/transcripts/{id}/tracks) before starting the pipeline", in.TranscriptID)
	}
	if run := attemptRunID(ctx); run != "" && (t.WorkflowRunID == nil || *t.WorkflowRunID != run) {
		if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{WorkflowRunID: &run}); err != nil {
			return GetRecordingOutput{}, err
		}
	}
	if _, err := s.DB.SetStatus(ctx, in.TranscriptID, parley.StatusProcessing, nil); err != nil {
		return GetRecordingOutput{}, err
	}
	if in.RecordingID == "" {
		return GetRecordingOutput{Skipped: "no recording id (uploaded tracks)"}, nil
	}
	if s.Daily == nil {
		return GetRecordingOutput{RecordingID: in.RecordingID, Skipped: "Daily is not configured (DAILY_API_KEY)"}, nil
	}
	rec, err := s.Daily.Recording(ctx, in.RecordingID)
	if err != nil {
		return GetRecordingOutput{}, fmt.Errorf("get recording %s: %w", in.RecordingID, err)
	}
	if err := s.DB.SetRecordingInfo(ctx, in.RecordingID, rec.MtgSessionID, rec.Duration); err != nil {
		if parley.ErrorCode(err) != parley.ENOTFOUND {
			return GetRecordingOutput{}, err
		}
		// A recording started through POST /v1/process has no row yet.
		if err := s.DB.UpsertRecording(ctx, store.Recording{ID: in.RecordingID, Bucket: "", TranscriptID: &in.TranscriptID}); err != nil {
			return GetRecordingOutput{}, err
		}
		if err := s.DB.SetRecordingInfo(ctx, in.RecordingID, rec.MtgSessionID, rec.Duration); err != nil {
			return GetRecordingOutput{}, err
		}
	}
	return GetRecordingOutput{RecordingID: rec.ID, MtgSessionID: rec.MtgSessionID, Duration: rec.Duration}, nil
}

// GetParticipantsOutput is get_participants' output.
type GetParticipantsOutput struct {
	NumTracks    int      `json:"num_tracks"`
	Participants []string `json:"participants"`
}

// GetParticipants names the speaker of every track: by the Daily
// participant id in the track's file name when Daily knows it (every page
// of the meeting's participants is read), "Speaker N" otherwise. It also
// records Daily's duration of the recording.
func (s *Steps) GetParticipants(ctx context.Context, in Input) (GetParticipantsOutput, error) {
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return GetParticipantsOutput{}, err
	}
	if len(trs) == 0 {
		return GetParticipantsOutput{}, parley.Errorf(parley.EINVALID, "the transcript has no tracks")
	}
	names := map[string]DailyParticipant{}
	if in.RecordingID != "" && s.Daily != nil {
		rec, err := s.DB.GetRecording(ctx, in.RecordingID)
		if err != nil {
			return GetParticipantsOutput{}, err
		}
		if rec.MtgSessionID != "" {
			ps, err := s.Daily.Participants(ctx, rec.MtgSessionID)
			if err != nil {
				return GetParticipantsOutput{}, fmt.Errorf("get participants of meeting %s: %w", rec.MtgSessionID, err)
			}
			for _, p := range ps {
				names[p.ParticipantID] = p
			}
		}
		if rec.DurationS != nil && *rec.DurationS > 0 {
			d := float64(*rec.DurationS)
			if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{DurationSeconds: &d}); err != nil {
				return GetParticipantsOutput{}, err
			}
			if err := s.emit(ctx, in.TranscriptID, parley.EventDuration, parley.DurationData{Duration: d * 1000}); err != nil {
				return GetParticipantsOutput{}, err
			}
		}
	}
	ps := participantsFor(trs, names)
	if err := s.DB.SetParticipants(ctx, in.TranscriptID, ps); err != nil {
		return GetParticipantsOutput{}, err
	}
	out := GetParticipantsOutput{NumTracks: len(trs)}
	for _, p := range ps {
		out.Participants = append(out.Participants, p.Name)
	}
	return out, nil
}

// participantsFor maps every track to a participant. A participant with
// several tracks (rejoined) gets one entry per track, ids suffixed.
func participantsFor(trs []store.TrackState, known map[string]DailyParticipant) []parley.Participant {
	seen := map[string]int{}
	out := make([]parley.Participant, 0, len(trs))
	for _, tr := range trs {
		p := parley.Participant{Speaker: tr.Index, Name: fmt.Sprintf("Speaker %d", tr.Index+1)}
		if tr.Name != "" {
			p.Name = tr.Name
		}
		id := tr.ParticipantID
		if d, ok := known[id]; ok && id != "" {
			if d.UserName != "" {
				p.Name = d.UserName
			}
			p.UserID = d.UserID
		}
		if id == "" {
			id = fmt.Sprintf("speaker-%d", tr.Index)
		}
		seen[id]++
		if seen[id] > 1 {
			id = fmt.Sprintf("%s-%d", id, seen[id])
		}
		p.ID = id
		out = append(out, p)
	}
	return out
}

// ProcessTracksOutput is process_tracks' output.
type ProcessTracksOutput struct {
	NumTracks int `json:"num_tracks"`
	WordCount int `json:"word_count"`
}

// ProcessTracks runs one TrackProcessing child per track in parallel (pad,
// then transcribe) and waits for all of them. Children are keyed by track
// index, so a retried or replayed parent re-attaches to them.
func (s *Steps) ProcessTracks(ctx context.Context, in Input) (ProcessTracksOutput, error) {
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return ProcessTracksOutput{}, err
	}
	if len(trs) == 0 {
		return ProcessTracksOutput{}, parley.Errorf(parley.EINVALID, "the transcript has no tracks")
	}
	runID := attemptRunID(ctx)
	inputs := make([]tracks.Input, len(trs))
	for i, tr := range trs {
		inputs[i] = tracks.Input{TranscriptID: in.TranscriptID, TrackIndex: tr.Index, NumTracks: len(trs),
			Language: in.Language, PipelineRunID: runID}
	}
	if _, err := s.Tracks.RunTracks(ctx, inputs); err != nil {
		return ProcessTracksOutput{}, err
	}
	n, err := s.DB.CountWords(ctx, in.TranscriptID)
	if err != nil {
		return ProcessTracksOutput{}, err
	}
	return ProcessTracksOutput{NumTracks: len(trs), WordCount: n}, nil
}

// MixdownOutput is mixdown_tracks' output.
type MixdownOutput struct {
	AudioKey    string  `json:"audio_key"`
	Duration    float64 `json:"duration"`
	TracksMixed int     `json:"tracks_mixed"`
	Reused      bool    `json:"reused,omitempty"`
}

// AudioKey is where the mixed MP3 of a transcript is stored.
func AudioKey(transcriptID string) string { return transcriptID + "/audio.mp3" }

// MixdownTracks mixes the original tracks (offsets and gaps applied in one
// graph) into one MP3, computing the waveform in the same pass, and stores
// both. A retry that finds both stored does nothing.
func (s *Steps) MixdownTracks(ctx context.Context, in Input) (MixdownOutput, error) {
	t, err := s.DB.GetTranscript(ctx, in.TranscriptID)
	if err != nil {
		return MixdownOutput{}, err
	}
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return MixdownOutput{}, err
	}
	key := AudioKey(in.TranscriptID)
	if t.AudioKey == key && !t.AudioDeleted {
		w, err := s.DB.Waveform(ctx, in.TranscriptID)
		if err != nil {
			return MixdownOutput{}, err
		}
		if ok, err := s.Storage.Exists(ctx, s.Storage.Bucket(), key); err == nil && ok && len(w) > 0 {
			return MixdownOutput{AudioKey: key, Duration: t.DurationSeconds, TracksMixed: len(trs), Reused: true}, nil
		}
	}
	srcs := make([]string, len(trs))
	for i, tr := range trs {
		if srcs[i], err = s.Storage.Presign(ctx, tr.Bucket, tr.Key); err != nil {
			return MixdownOutput{}, fmt.Errorf("mixdown: %w", err)
		}
	}
	dir, err := os.MkdirTemp(s.Settings.WorkDir, "mix-")
	if err != nil {
		return MixdownOutput{}, fmt.Errorf("mixdown: %w", err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "audio.mp3")
	mctx, cancel, deadline := s.mixdownDeadline(ctx, len(trs), t.DurationSeconds)
	defer cancel()
	res, err := s.Media.Mixdown(mctx, srcs, dst)
	if err != nil {
		if deadline > 0 && ctx.Err() == nil && errors.Is(mctx.Err(), context.DeadlineExceeded) {
			return MixdownOutput{}, fmt.Errorf("mixdown: %d tracks of %.0f s took longer than %s "+
				"(300 s + 60 s per track + a tenth of the duration; PARLEY_STEP_MIXDOWN_TRACKS_TIMEOUT sets a fixed one): %w",
				len(trs), t.DurationSeconds, deadline, err)
		}
		return MixdownOutput{}, fmt.Errorf("mixdown: %w", err)
	}
	if _, err := s.Storage.PutFile(ctx, s.Storage.Bucket(), key, dst, "audio/mpeg"); err != nil {
		return MixdownOutput{}, fmt.Errorf("mixdown: %w", err)
	}
	upd := store.TranscriptUpdate{AudioKey: &key, Waveform: res.Waveform}
	// Daily's duration is the reference when known (set by
	// get_participants); otherwise the mix's.
	setDuration := t.DurationSeconds == 0
	if setDuration {
		upd.DurationSeconds = &res.Duration
	}
	if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, upd); err != nil {
		return MixdownOutput{}, err
	}
	if setDuration {
		if err := s.emit(ctx, in.TranscriptID, parley.EventDuration, parley.DurationData{Duration: res.Duration * 1000}); err != nil {
			return MixdownOutput{}, err
		}
	}
	return MixdownOutput{AudioKey: key, Duration: res.Duration, TracksMixed: len(trs)}, nil
}

// WaveformOutput is generate_waveform's output.
type WaveformOutput struct {
	Points int `json:"points"`
}

// GenerateWaveform publishes the waveform that mixdown computed (and
// computes it from the MP3 if it is missing).
func (s *Steps) GenerateWaveform(ctx context.Context, in Input) (WaveformOutput, error) {
	w, err := s.DB.Waveform(ctx, in.TranscriptID)
	if err != nil {
		return WaveformOutput{}, err
	}
	if len(w) == 0 {
		dir, err := os.MkdirTemp(s.Settings.WorkDir, "wave-")
		if err != nil {
			return WaveformOutput{}, fmt.Errorf("waveform: %w", err)
		}
		defer os.RemoveAll(dir)
		local := filepath.Join(dir, "audio.mp3")
		if err := s.Storage.GetFile(ctx, s.Storage.Bucket(), AudioKey(in.TranscriptID), local); err != nil {
			return WaveformOutput{}, fmt.Errorf("waveform: %w", err)
		}
		if w, err = s.Media.Waveform(ctx, local); err != nil {
			return WaveformOutput{}, fmt.Errorf("waveform: %w", err)
		}
		if err := s.DB.UpdateTranscript(ctx, in.TranscriptID, store.TranscriptUpdate{Waveform: w}); err != nil {
			return WaveformOutput{}, err
		}
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventWaveform, parley.WaveformData{Waveform: w}); err != nil {
		return WaveformOutput{}, err
	}
	return WaveformOutput{Points: len(w)}, nil
}

// FinalizeOutput is finalize's output.
type FinalizeOutput struct {
	Status        parley.Status `json:"status"`
	DeletedPadded int           `json:"deleted_padded"`
	// TracksOriginal, TracksSegments and TracksPadded count the tracks
	// the recogniser got as they were, split at their mute gaps, and as
	// padded copies.
	TracksOriginal int `json:"tracks_original"`
	TracksSegments int `json:"tracks_segments"`
	TracksPadded   int `json:"tracks_padded"`
}

// Finalize runs once every result exists (it waits for the mixdown too, so
// nothing it deletes is still needed): it deletes the padded working
// files, publishes the transcript text, refreshes the search index and
// sets the status to ended — the run's last status write.
//
// The padded files it deletes are what pad_track wrote under the
// transcript's tracks.PaddedPrefix in the working bucket (of this run or an
// earlier one: padded copies, segments of split tracks and their lists),
// never anything else: not a reused original (recorded as the track's
// padded file), not an upload under the transcript's prefix, not a key
// that is one of the tracks' originals.
func (s *Steps) Finalize(ctx context.Context, in Input) (FinalizeOutput, error) {
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return FinalizeOutput{}, err
	}
	var out FinalizeOutput
	originals := map[string]bool{}
	for _, tr := range trs {
		originals[tr.Bucket+"/"+tr.Key] = true
		switch tr.Source {
		case store.SourceOriginal:
			out.TracksOriginal++
		case store.SourceSegments:
			out.TracksSegments++
		case store.SourcePadded:
			out.TracksPadded++
		}
	}
	keys, err := s.Storage.List(ctx, s.Storage.Bucket(), tracks.PaddedPrefix(in.TranscriptID))
	if err != nil {
		return FinalizeOutput{}, fmt.Errorf("finalize: list padded files: %w", err)
	}
	for _, k := range keys {
		if originals[s.Storage.Bucket()+"/"+k] {
			continue
		}
		if err := s.Storage.Delete(ctx, s.Storage.Bucket(), k); err != nil {
			return FinalizeOutput{}, fmt.Errorf("finalize: %w", err)
		}
		out.DeletedPadded++
	}
	if err := s.DB.ClearPaddedTracks(ctx, in.TranscriptID); err != nil {
		return FinalizeOutput{}, err
	}
	words, err := s.DB.ListWords(ctx, in.TranscriptID)
	if err != nil {
		return FinalizeOutput{}, err
	}
	ps, err := s.DB.ListParticipants(ctx, in.TranscriptID)
	if err != nil {
		return FinalizeOutput{}, err
	}
	if err := s.emit(ctx, in.TranscriptID, parley.EventTranscript, parley.TranscriptData{Text: parley.TranscriptText(words, ps)}); err != nil {
		return FinalizeOutput{}, err
	}
	// The words' search index is rebuilt whenever they change; rebuilding
	// it at the end too makes a finished transcript searchable whatever
	// happened before (an index made by an older version, a failed run).
	if err := s.DB.RefreshSearch(ctx, in.TranscriptID); err != nil {
		return FinalizeOutput{}, err
	}
	if _, err := s.DB.SetStatus(ctx, in.TranscriptID, parley.StatusEnded, nil); err != nil {
		return FinalizeOutput{}, err
	}
	out.Status = parley.StatusEnded
	return out, nil
}

// CleanupOutput is cleanup_consent's output.
type CleanupOutput struct {
	ConsentDenied bool     `json:"consent_denied"`
	Deleted       []string `json:"deleted,omitempty"`
	// Tracks says, when consent was denied, what became of each track's
	// audio.
	Tracks []TrackCleanup `json:"tracks,omitempty"`
}

// TrackCleanup is what consent cleanup did with one track.
type TrackCleanup struct {
	Track int `json:"track"`
	// Source is what the recogniser got: "original" (the raw track itself;
	// there was no copy), "segments" (stream copies of its gapless parts)
	// or "padded" (a copy); copies are deleted by finalize or here.
	Source string `json:"source"`
	// Original is "deleted", or why the raw track was kept: another
	// transcript that keeps its audio uses it, or it lies under another
	// transcript's prefix.
	Original string `json:"original"`
}

// CleanupConsent deletes every stored audio object of the transcript (raw
// tracks, padded tracks, the MP3) when anyone denied consent. It runs after
// finalize, which waits for the mixdown, so the MP3 cannot appear after
// it. A failed deletion fails the step (and is retried), never ignored.
func (s *Steps) CleanupConsent(ctx context.Context, in Input) (CleanupOutput, error) {
	denied, err := s.DB.ConsentDenied(ctx, in.TranscriptID)
	if err != nil {
		return CleanupOutput{}, err
	}
	if !denied {
		return CleanupOutput{}, nil
	}
	deleted, err := DeleteAudio(ctx, s.DB, s.Storage, in.TranscriptID)
	if err != nil {
		return CleanupOutput{}, err
	}
	trs, err := s.DB.ListTracks(ctx, in.TranscriptID)
	if err != nil {
		return CleanupOutput{}, err
	}
	gone := map[string]bool{}
	for _, d := range deleted {
		gone[d] = true
	}
	out := CleanupOutput{ConsentDenied: true, Deleted: deleted}
	for _, tr := range trs {
		tc := TrackCleanup{Track: tr.Index, Source: tr.Source, Original: "deleted"}
		if !gone[tr.Bucket+"/"+tr.Key] {
			tc.Original = "kept: another transcript that keeps its audio uses it, or it lies under another transcript's prefix"
			if ok, err := s.Storage.Exists(ctx, tr.Bucket, tr.Key); err == nil && !ok {
				tc.Original = "deleted" // by an earlier attempt
			}
		}
		out.Tracks = append(out.Tracks, tc)
	}
	return out, nil
}

// AudioStore is what DeleteAudio needs of the database (package store).
type AudioStore interface {
	UpdateTranscript(ctx context.Context, id string, u store.TranscriptUpdate) error
	ListTracks(ctx context.Context, transcriptID string) ([]store.TrackState, error)
	// OtherReferences counts the other transcripts, audio kept, that use
	// the object.
	OtherReferences(ctx context.Context, transcriptID, bucket, key string) (int, error)
	ClearPaddedTracks(ctx context.Context, transcriptID string) error
}

// ObjectDeleter lists and deletes stored objects.
type ObjectDeleter interface {
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	Bucket() string
}

// OwnedPrefix reports whether key, in the working bucket, lies under a
// transcript's own prefix ("<transcript id>/": its uploads, padded tracks
// and mix), and which transcript that is.
func OwnedPrefix(key string) (transcriptID string, ok bool) {
	first, _, found := strings.Cut(key, "/")
	if !found {
		return "", false
	}
	if _, err := uuid.Parse(first); err != nil || len(first) != 36 {
		return "", false
	}
	return first, true
}

// DeleteAudio deletes the stored audio a transcript owns and marks it
// deleted. It owns what lies under its prefix in the working bucket (its
// uploads, padded tracks of any run, the MP3). The original tracks it was
// given (Daily's raw tracks) are deleted only when no other transcript
// that keeps its audio references them (store.DB.OtherReferences), and
// objects under another transcript's prefix never. It is idempotent; the
// API uses it too when consent is denied after a run has finished.
func DeleteAudio(ctx context.Context, db AudioStore, st ObjectDeleter, tid string) ([]string, error) {
	trs, err := db.ListTracks(ctx, tid)
	if err != nil {
		return nil, err
	}
	type obj struct{ bucket, key string }
	var objs []obj
	keys, err := st.List(ctx, st.Bucket(), tid+"/")
	if err != nil {
		return nil, fmt.Errorf("delete audio: %w", err)
	}
	for _, k := range keys {
		objs = append(objs, obj{st.Bucket(), k})
	}
	for _, tr := range trs {
		if tr.Bucket == st.Bucket() {
			if _, ok := OwnedPrefix(tr.Key); ok {
				continue // its own were listed above; another's are not its to delete
			}
		}
		n, err := db.OtherReferences(ctx, tid, tr.Bucket, tr.Key)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			continue // another transcript still needs it
		}
		objs = append(objs, obj{tr.Bucket, tr.Key})
	}
	var deleted []string
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, o := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Delete(ctx, o.bucket, o.key)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				deleted = append(deleted, o.bucket+"/"+o.key)
			} else {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("delete audio: %w", err)
	}
	yes, empty := true, ""
	if err := db.UpdateTranscript(ctx, tid, store.TranscriptUpdate{AudioDeleted: &yes, AudioKey: &empty}); err != nil {
		return deleted, err
	}
	if err := db.ClearPaddedTracks(ctx, tid); err != nil {
		return deleted, err
	}
	return deleted, nil
}

// logger returns the step logger with the transcript id.
func (s *Steps) logger(tid string) *slog.Logger {
	return s.Log.With(slog.String("transcript_id", tid))
}
