package tracks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
)

// Input is the TrackProcessing input: ids only (the track's location and
// everything else is read from the database).
type Input struct {
	TranscriptID string `json:"transcript_id"`
	TrackIndex   int    `json:"track_index"`
	NumTracks    int    `json:"num_tracks"`
	Language     string `json:"language"`
	// PipelineRunID is the DiarizationPipeline run this child belongs to.
	PipelineRunID string `json:"pipeline_run_id"`
}

// Subject returns the transcript the input belongs to (for observers).
func (in Input) Subject() string { return in.TranscriptID }

// Track returns the track index (for observers).
func (in Input) Track() (int, int) { return in.TrackIndex, in.NumTracks }

// PadOutput is pad_track's output.
type PadOutput struct {
	Bucket string  `json:"bucket"`
	Key    string  `json:"key"`
	Size   int64   `json:"size"`
	Offset float64 `json:"offset"`
	// Reused is true when a retry found the padded file of this run.
	Reused bool `json:"reused"`
	// Source is what the recogniser gets: store.SourceOriginal (the
	// track as it is; Bucket and Key are the original's),
	// store.SourceSegments (the track split at its mute gaps; Key is the
	// list of segments, SegmentsKey) or store.SourcePadded (a copy on
	// meeting time).
	Source string `json:"source"`
}

// Output is transcribe_track's output (the child's result).
type Output struct {
	TrackIndex   int     `json:"track_index"`
	Words        int     `json:"words"`
	AudioSeconds float64 `json:"audio_seconds"`
}

// PadResult is what a Padder made.
type PadResult struct {
	// Offset is the track's start on meeting time (s) and Duration its
	// length on meeting time.
	Offset, Duration float64
	// UseOriginal tells that no new file was written: the original can be
	// transcribed as is, and Shift seconds added to its word times.
	UseOriginal bool
	Shift       float64
	// Segments, when not empty, are the files written instead of the
	// padded one: the original split at its mute gaps, each to be
	// transcribed on its own.
	Segments []Segment
	// Ext and ContentType describe the written file (the original with
	// UseOriginal, the segments with Segments).
	Ext, ContentType string
}

// Segment is one gapless part of a track (PadResult.Segments).
type Segment struct {
	// Path is the local file the Padder wrote.
	Path string
	// Shift is the meeting time (s) of its first sample, added to its
	// word times; Duration its length (s).
	Shift, Duration float64
}

// Segments is the list of a split track's segments that pad_track
// stores at SegmentsKey and transcribe_track reads.
type Segments struct {
	Segments []StoredSegment `json:"segments"`
}

// StoredSegment is one stored segment: where, its content hash (the
// recogniser cache's key), and where it lies on meeting time.
type StoredSegment struct {
	Key      string  `json:"key"`
	SHA256   string  `json:"sha256"`
	Size     int64   `json:"size"`
	Shift    float64 `json:"shift"`
	Duration float64 `json:"duration"`
}

// SegmentConcurrency is how many segments of one track transcribe_track
// sends to the recogniser at once.
const SegmentConcurrency = 4

// maxSegments bounds the list transcribe_track accepts (the media
// package makes at most media.DefaultMaxSegments).
const maxSegments = 256

// Padder puts a track on meeting time (package media).
type Padder interface {
	Pad(ctx context.Context, src, dstPath string) (PadResult, error)
}

// TranscribeRequest is one track's audio for speech to text.
type TranscribeRequest struct {
	// Path is a local copy of the audio.
	Path string
	// URL presigns the audio on demand (for URL-based backends).
	URL func(ctx context.Context) (string, error)
	// SHA256 of the audio bytes: the cache key.
	SHA256 string
	// Duration of the audio in seconds (usage accounting).
	Duration float64
	// Speaker is the track index; Shift is added to every word time.
	Speaker  int
	Shift    float64
	Language string
}

// Transcriber turns audio into words on meeting time (package llm).
type Transcriber interface {
	Transcribe(ctx context.Context, req TranscribeRequest) ([]parley.Word, error)
}

// Storage is the object storage the steps use (package store).
type Storage interface {
	PutFile(ctx context.Context, bucket, key, path, contentType string) (store.ObjectInfo, error)
	GetFile(ctx context.Context, bucket, key, path string) error
	Presign(ctx context.Context, bucket, key string) (string, error)
	Stat(ctx context.Context, bucket, key string) (store.ObjectInfo, error)
	Bucket() string
}

// Store is what the track steps need of the database (package store).
type Store interface {
	GetTrack(ctx context.Context, transcriptID string, idx int) (*store.TrackState, error)
	// SetTrackPadded records where the padded track is and its offset and
	// duration on meeting time.
	SetTrackPadded(ctx context.Context, transcriptID string, idx int, offset, duration float64, p store.PaddedTrack) error
	// ReplaceTrackWords replaces the words of one speaker (a retry never
	// duplicates them).
	ReplaceTrackWords(ctx context.Context, transcriptID string, speaker int, words []parley.Word) error
}

var _ Store = (*store.DB)(nil)

// Steps are the TrackProcessing tasks with their dependencies.
type Steps struct {
	DB          Store
	Storage     Storage
	Padder      Padder
	Transcriber Transcriber
	// WorkDir holds temporary files. Defaults to os.TempDir().
	WorkDir string
	Log     *slog.Logger
}

// PaddedKey is where pad_track stores track i of a transcript.
func PaddedKey(transcriptID string, i int, ext string) string {
	return fmt.Sprintf("%s%d.%s", PaddedPrefix(transcriptID), i, strings.TrimPrefix(ext, "."))
}

// PaddedPrefix is the key prefix of every padded copy of a transcript's
// tracks, and of every segment of a split one (in the working bucket):
// what finalize deletes.
func PaddedPrefix(transcriptID string) string { return transcriptID + "/tracks/padded_" }

// SegmentKey is where pad_track stores segment k of track i.
func SegmentKey(transcriptID string, i, k int, ext string) string {
	return fmt.Sprintf("%s%d.seg%03d.%s", PaddedPrefix(transcriptID), i, k, strings.TrimPrefix(ext, "."))
}

// SegmentsKey is where pad_track stores the list of track i's segments
// (Segments, JSON).
func SegmentsKey(transcriptID string, i int) string {
	return fmt.Sprintf("%s%d.segments.json", PaddedPrefix(transcriptID), i)
}

// PadTrack prepares one track for the recogniser. A track the Padder finds
// fit as it is (no timestamp gaps, a container and size the backend takes)
// is used as it is: nothing is written, and its word times are shifted by
// its offset. A track whose only problem is mute gaps is split by the
// Padder into gapless segments (stream copies): they and their list
// (SegmentsKey) are stored under the transcript's prefix. Any other track
// is put on meeting time and the copy stored there. Finalize deletes what
// lies there. A retry within the same pipeline run reuses what the first
// attempt recorded.
func (s *Steps) PadTrack(ctx context.Context, in Input) (PadOutput, error) {
	tr, err := s.DB.GetTrack(ctx, in.TranscriptID, in.TrackIndex)
	if err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
	}
	if tr.Padded.Key != "" && tr.Padded.RunID == in.PipelineRunID && tr.StartOffset != nil {
		if st, err := s.Storage.Stat(ctx, tr.Padded.Bucket, tr.Padded.Key); err == nil && st.Size == tr.Padded.Size {
			return PadOutput{Bucket: tr.Padded.Bucket, Key: tr.Padded.Key, Size: st.Size, Offset: *tr.StartOffset, Reused: true,
				Source: tr.Padded.Source}, nil
		}
	}
	st, err := s.Storage.Stat(ctx, tr.Bucket, tr.Key)
	if err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
	}
	if st.Size == 0 {
		return PadOutput{}, parley.Errorf(parley.EINVALID, "track %d (%s): the file is empty", in.TrackIndex, tr.Key)
	}
	src, err := s.Storage.Presign(ctx, tr.Bucket, tr.Key)
	if err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
	}
	dir, err := os.MkdirTemp(s.WorkDir, "pad-")
	if err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "padded")
	res, err := s.Padder.Pad(ctx, src, dst)
	if err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d (%s): %w", in.TrackIndex, tr.Key, err)
	}
	p := store.PaddedTrack{Shift: res.Shift, RunID: in.PipelineRunID, Ext: strings.TrimPrefix(res.Ext, ".")}
	switch {
	case res.UseOriginal:
		// The original goes to the recogniser as it is: nothing is
		// written, and transcribe_track hashes what it downloads anyway
		// (the cache key), so the original is not downloaded here.
		p.Bucket, p.Key, p.Size, p.Source = tr.Bucket, tr.Key, st.Size, store.SourceOriginal
	case len(res.Segments) > 0:
		info, err := s.putSegments(ctx, in, res, filepath.Join(dir, "segments.json"))
		if err != nil {
			return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
		}
		p.Bucket, p.Key, p.SHA256, p.Size, p.Source = s.Storage.Bucket(), SegmentsKey(in.TranscriptID, in.TrackIndex),
			info.SHA256, info.Size, store.SourceSegments
	default:
		key := PaddedKey(in.TranscriptID, in.TrackIndex, res.Ext)
		info, err := s.Storage.PutFile(ctx, s.Storage.Bucket(), key, dst, res.ContentType)
		if err != nil {
			return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
		}
		p.Bucket, p.Key, p.SHA256, p.Size, p.Source = s.Storage.Bucket(), key, info.SHA256, info.Size, store.SourcePadded
	}
	if err := s.DB.SetTrackPadded(ctx, in.TranscriptID, in.TrackIndex, res.Offset, res.Duration, p); err != nil {
		return PadOutput{}, fmt.Errorf("pad track %d: %w", in.TrackIndex, err)
	}
	s.logger(in).InfoContext(ctx, "track prepared for the recogniser", "track", in.TrackIndex, "source", p.Source,
		"offset", res.Offset, "bytes", p.Size, "segments", len(res.Segments))
	return PadOutput{Bucket: p.Bucket, Key: p.Key, Size: p.Size, Offset: res.Offset, Source: p.Source}, nil
}

// putSegments stores a split track's segments (SegmentConcurrency at a
// time), then their list, written to listPath first; the list is stored
// last, so that a stored list names stored segments.
func (s *Steps) putSegments(ctx context.Context, in Input, res PadResult, listPath string) (store.ObjectInfo, error) {
	list := Segments{Segments: make([]StoredSegment, len(res.Segments))}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(SegmentConcurrency)
	for k, seg := range res.Segments {
		g.Go(func() error {
			key := SegmentKey(in.TranscriptID, in.TrackIndex, k, res.Ext)
			info, err := s.Storage.PutFile(gctx, s.Storage.Bucket(), key, seg.Path, res.ContentType)
			if err != nil {
				return fmt.Errorf("segment %d: %w", k, err)
			}
			list.Segments[k] = StoredSegment{Key: key, SHA256: info.SHA256, Size: info.Size, Shift: seg.Shift, Duration: seg.Duration}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return store.ObjectInfo{}, err
	}
	b, err := json.Marshal(list)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	if err := os.WriteFile(listPath, b, 0o600); err != nil {
		return store.ObjectInfo{}, err
	}
	return s.Storage.PutFile(ctx, s.Storage.Bucket(), SegmentsKey(in.TranscriptID, in.TrackIndex), listPath, "application/json")
}

func (s *Steps) logger(in Input) *slog.Logger {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With(slog.String("transcript_id", in.TranscriptID))
}

// TranscribeTrack turns the padded track into words (speaker = track index)
// and stores them, replacing any earlier words of the track. Provider calls
// go through the content-addressed cache, so a retry or replay never pays
// twice.
func (s *Steps) TranscribeTrack(ctx context.Context, in Input) (Output, error) {
	tr, err := s.DB.GetTrack(ctx, in.TranscriptID, in.TrackIndex)
	if err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	if tr.Padded.Key == "" {
		return Output{}, parley.Errorf(parley.EINTERNAL, "transcribe track %d: the track has not been padded", in.TrackIndex)
	}
	dir, err := os.MkdirTemp(s.WorkDir, "asr-")
	if err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	defer os.RemoveAll(dir)
	if tr.Padded.Source == store.SourceSegments {
		return s.transcribeSegments(ctx, in, tr, dir)
	}
	// The recogniser tells formats by the file name: keep the key's name
	// when it ends in the format's extension (an original's may have none).
	name := filepath.Base(tr.Padded.Key)
	if ext := tr.Padded.Ext; ext != "" && !strings.EqualFold(filepath.Ext(name), "."+ext) {
		name = fmt.Sprintf("track_%d.%s", in.TrackIndex, ext)
	}
	local := filepath.Join(dir, name)
	if err := s.Storage.GetFile(ctx, tr.Padded.Bucket, tr.Padded.Key, local); err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	sum := tr.Padded.SHA256
	if sum == "" {
		// A reused original: its hash is the cache key.
		if sum, _, err = fileSHA256(local); err != nil {
			return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
		}
	}
	duration := 0.0
	if tr.Duration != nil {
		duration = *tr.Duration
	}
	words, err := s.Transcriber.Transcribe(ctx, TranscribeRequest{
		Path: local,
		URL: func(ctx context.Context) (string, error) {
			return s.Storage.Presign(ctx, tr.Padded.Bucket, tr.Padded.Key)
		},
		SHA256:   sum,
		Duration: duration,
		Speaker:  in.TrackIndex,
		Shift:    tr.Padded.Shift,
		Language: in.Language,
	})
	if err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	for i := range words {
		words[i].Speaker = in.TrackIndex
	}
	if err := s.DB.ReplaceTrackWords(ctx, in.TranscriptID, in.TrackIndex, words); err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	return Output{TrackIndex: in.TrackIndex, Words: len(words), AudioSeconds: duration}, nil
}

// transcribeSegments transcribes each segment of a split track on its own
// (SegmentConcurrency at once; each through the recogniser's cache, keyed
// by the segment's content), shifts its words by the segment's start on
// meeting time and stores all of them, in segment order.
func (s *Steps) transcribeSegments(ctx context.Context, in Input, tr *store.TrackState, dir string) (Output, error) {
	list, err := s.readSegments(ctx, in, tr, filepath.Join(dir, "segments.json"))
	if err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	words := make([][]parley.Word, len(list.Segments))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(SegmentConcurrency)
	for k, seg := range list.Segments {
		g.Go(func() error {
			local := filepath.Join(dir, path.Base(seg.Key))
			if err := s.Storage.GetFile(gctx, tr.Padded.Bucket, seg.Key, local); err != nil {
				return fmt.Errorf("segment %d: %w", k, err)
			}
			ws, err := s.Transcriber.Transcribe(gctx, TranscribeRequest{
				Path: local,
				URL: func(ctx context.Context) (string, error) {
					return s.Storage.Presign(ctx, tr.Padded.Bucket, seg.Key)
				},
				SHA256:   seg.SHA256,
				Duration: seg.Duration,
				Speaker:  in.TrackIndex,
				Shift:    seg.Shift,
				Language: in.Language,
			})
			if err != nil {
				return fmt.Errorf("segment %d: %w", k, err)
			}
			words[k] = ws
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	var all []parley.Word
	seconds := 0.0
	for k, ws := range words {
		for _, w := range ws {
			w.Speaker = in.TrackIndex
			all = append(all, w)
		}
		seconds += list.Segments[k].Duration
	}
	if err := s.DB.ReplaceTrackWords(ctx, in.TranscriptID, in.TrackIndex, all); err != nil {
		return Output{}, fmt.Errorf("transcribe track %d: %w", in.TrackIndex, err)
	}
	return Output{TrackIndex: in.TrackIndex, Words: len(all), AudioSeconds: seconds}, nil
}

// readSegments downloads and checks the list pad_track stored: segments
// under this track's own keys, each with its hash.
func (s *Steps) readSegments(ctx context.Context, in Input, tr *store.TrackState, local string) (Segments, error) {
	if err := s.Storage.GetFile(ctx, tr.Padded.Bucket, tr.Padded.Key, local); err != nil {
		return Segments{}, err
	}
	b, err := os.ReadFile(local)
	if err != nil {
		return Segments{}, err
	}
	var list Segments
	if err := json.Unmarshal(b, &list); err != nil {
		return Segments{}, parley.WrapError(parley.EINTERNAL, err, "the list of segments %s is unreadable", tr.Padded.Key)
	}
	if len(list.Segments) == 0 || len(list.Segments) > maxSegments {
		return Segments{}, parley.Errorf(parley.EINTERNAL, "the list of segments %s has %d segments", tr.Padded.Key, len(list.Segments))
	}
	for k, seg := range list.Segments {
		if seg.Key != SegmentKey(in.TranscriptID, in.TrackIndex, k, path.Ext(seg.Key)) || seg.SHA256 == "" {
			return Segments{}, parley.Errorf(parley.EINTERNAL, "the list of segments %s names %q as segment %d", tr.Padded.Key, seg.Key, k)
		}
	}
	return list, nil
}
