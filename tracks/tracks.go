package tracks

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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
	// track as it is; Bucket and Key are the original's) or
	// store.SourcePadded (a copy on meeting time).
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
	// Ext and ContentType describe the written file (the original with
	// UseOriginal).
	Ext, ContentType string
}

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
// tracks (in the working bucket): what finalize deletes.
func PaddedPrefix(transcriptID string) string { return transcriptID + "/tracks/padded_" }

// PadTrack prepares one track for the recogniser. A track the Padder finds
// fit as it is (no timestamp gaps, a container and size the backend takes)
// is used as it is: nothing is written, and its word times are shifted by
// its offset. Any other track is put on meeting time and the copy stored
// under the transcript's prefix (finalize deletes it). A retry within the
// same pipeline run reuses what the first attempt recorded.
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
	if res.UseOriginal {
		// The original goes to the recogniser as it is: nothing is
		// written, and transcribe_track hashes what it downloads anyway
		// (the cache key), so the original is not downloaded here.
		p.Bucket, p.Key, p.Size, p.Source = tr.Bucket, tr.Key, st.Size, store.SourceOriginal
	} else {
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
		"offset", res.Offset, "bytes", p.Size)
	return PadOutput{Bucket: p.Bucket, Key: p.Key, Size: p.Size, Offset: res.Offset, Source: p.Source}, nil
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
