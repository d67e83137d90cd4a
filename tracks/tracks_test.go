package tracks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// Fast tier: the track steps called directly with fakes.

const tid = "0b8e5f0e-4c1a-4f57-9d55-6c3d2b2f1a10"

type memStore struct {
	track  store.TrackState
	words  map[int][]parley.Word
	padded int
}

func (m *memStore) GetTrack(_ context.Context, _ string, idx int) (*store.TrackState, error) {
	if idx != m.track.Index {
		return nil, parley.Errorf(parley.ENOTFOUND, "track %d not found", idx)
	}
	t := m.track
	t.Padded.Source = t.Source // as the database has it: one column
	return &t, nil
}

func (m *memStore) SetTrackPadded(_ context.Context, _ string, _ int, offset, duration float64, p store.PaddedTrack) error {
	m.padded++
	m.track.StartOffset, m.track.Duration, m.track.Padded, m.track.Source = &offset, &duration, p, p.Source
	return nil
}

func (m *memStore) ReplaceTrackWords(_ context.Context, _ string, speaker int, ws []parley.Word) error {
	if m.words == nil {
		m.words = map[int][]parley.Word{}
	}
	m.words[speaker] = ws
	return nil
}

// storage keeps what is put (by bucket/key); objects put by a test
// itself read as "audio bytes". Safe for concurrent use.
type storage struct {
	mu      sync.Mutex
	objects map[string]int64 // bucket/key -> size
	data    map[string][]byte
	puts    int
	gets    int
}

func (s *storage) PutFile(_ context.Context, bucket, key, path, _ string) (store.ObjectInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	s.objects[bucket+"/"+key] = int64(len(b))
	if s.data == nil {
		s.data = map[string][]byte{}
	}
	s.data[bucket+"/"+key] = b
	return store.ObjectInfo{Size: int64(len(b)), SHA256: sha(b)}, nil
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *storage) GetFile(_ context.Context, bucket, key, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[bucket+"/"+key]; !ok {
		return parley.Errorf(parley.ENOTFOUND, "no %s/%s", bucket, key)
	}
	s.gets++
	b, ok := s.data[bucket+"/"+key]
	if !ok {
		b = []byte("audio bytes")
	}
	return os.WriteFile(path, b, 0o600)
}

func (s *storage) Presign(_ context.Context, bucket, key string) (string, error) {
	return "http://storage.invalid/" + bucket + "/" + key, nil
}

func (s *storage) Stat(_ context.Context, bucket, key string) (store.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size, ok := s.objects[bucket+"/"+key]
	if !ok {
		return store.ObjectInfo{}, parley.Errorf(parley.ENOTFOUND, "no %s/%s", bucket, key)
	}
	return store.ObjectInfo{Size: size}, nil
}

func (s *storage) Bucket() string { return "work" }

// padder pads into dst, or, with segs (each segment's shift), splits:
// writes "segment k" to dst.segK and returns those.
type padder struct {
	res   tracks.PadResult
	segs  []float64
	err   error
	calls int
}

func (p *padder) Pad(_ context.Context, _, dst string) (tracks.PadResult, error) {
	p.calls++
	if p.err != nil {
		return tracks.PadResult{}, p.err
	}
	if len(p.segs) == 0 {
		return p.res, os.WriteFile(dst, []byte("padded audio"), 0o600)
	}
	res := p.res
	res.Segments = nil
	for k, shift := range p.segs {
		path := fmt.Sprintf("%s.seg%d", dst, k)
		if err := os.WriteFile(path, fmt.Appendf(nil, "segment %d", k), 0o600); err != nil {
			return tracks.PadResult{}, err
		}
		res.Segments = append(res.Segments, tracks.Segment{Path: path, Shift: shift, Duration: 10 + float64(k)})
	}
	return res, nil
}

// transcriber answers one word at 1 s of the file (shifted, as the real
// one does). The first block calls wait until block of them are in
// flight together. Safe for concurrent use.
type transcriber struct {
	mu       sync.Mutex
	req      tracks.TranscribeRequest // the last
	reqs     []tracks.TranscribeRequest
	err      error
	failOn   string // fail the request whose file has this name
	block    int
	inflight int
	most     int
	barrier  chan struct{}
}

func (t *transcriber) Transcribe(ctx context.Context, req tracks.TranscribeRequest) ([]parley.Word, error) {
	t.mu.Lock()
	t.req = req
	t.reqs = append(t.reqs, req)
	n := len(t.reqs)
	t.inflight++
	t.most = max(t.most, t.inflight)
	if t.barrier == nil {
		t.barrier = make(chan struct{})
	}
	if n == t.block {
		close(t.barrier)
	}
	barrier := t.barrier
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.inflight--
		t.mu.Unlock()
	}()
	if n <= t.block {
		select {
		case <-barrier:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if t.failOn != "" && filepath.Base(req.Path) == t.failOn {
		return nil, parley.Errorf(parley.ETRANSIENT, "HTTP 503")
	}
	return []parley.Word{{Text: "hello", Start: 1 + req.Shift, End: 1.5 + req.Shift, Speaker: 7}}, t.err
}

type bundle struct {
	db    *memStore
	st    *storage
	pad   *padder
	asr   *transcriber
	steps *tracks.Steps
}

func setup(t *testing.T) bundle {
	t.Helper()
	b := bundle{
		db:  &memStore{track: store.TrackState{Track: parley.Track{Index: 1, Bucket: "daily", Key: "raw/b.webm"}}},
		st:  &storage{objects: map[string]int64{"daily/raw/b.webm": 1000}},
		pad: &padder{res: tracks.PadResult{Offset: 2.5, Duration: 60, Ext: ".wav", ContentType: "audio/wav"}},
		asr: &transcriber{},
	}
	b.steps = &tracks.Steps{DB: b.db, Storage: b.st, Padder: b.pad, Transcriber: b.asr, WorkDir: t.TempDir()}
	return b
}

func TestPadTrack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := tracks.Input{TranscriptID: tid, TrackIndex: 1, NumTracks: 2, PipelineRunID: "run1"}

	t.Run("OKStoresThePaddedTrack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		out, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		key := tracks.PaddedKey(tid, 1, ".wav")
		require.Equal(t, tracks.PadOutput{Bucket: "work", Key: key, Size: int64(len("padded audio")), Offset: 2.5,
			Source: store.SourcePadded}, out)
		require.Equal(t, store.PaddedTrack{Bucket: "work", Key: key, SHA256: sha([]byte("padded audio")), Size: 12, RunID: "run1",
			Source: store.SourcePadded, Ext: "wav"}, b.db.track.Padded)
		require.InDelta(t, 2.5, *b.db.track.StartOffset, 0)
	})
	t.Run("OKRetryReusesTheRunsFile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		out, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		require.True(t, out.Reused)
		require.Equal(t, 1, b.pad.calls)
		require.Equal(t, 1, b.st.puts)
	})
	t.Run("OKNewRunPadsAgain", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		next := in
		next.PipelineRunID = "run2"
		out, err := b.steps.PadTrack(ctx, next)
		require.NoError(t, err)
		require.False(t, out.Reused)
		require.Equal(t, 2, b.pad.calls)
	})
	t.Run("OKOriginalUsedAsIs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pad.res = tracks.PadResult{UseOriginal: true, Shift: 3, Offset: 3, Duration: 60, Ext: "webm"}
		out, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		require.Equal(t, tracks.PadOutput{Bucket: "daily", Key: "raw/b.webm", Size: 1000, Offset: 3, Source: store.SourceOriginal}, out)
		require.Equal(t, store.PaddedTrack{Bucket: "daily", Key: "raw/b.webm", Size: 1000, Shift: 3, RunID: "run1",
			Source: store.SourceOriginal, Ext: "webm"}, b.db.track.Padded, "hashed by transcribe_track, which downloads it anyway")
		require.Zero(t, b.st.puts, "nothing written")
		require.Zero(t, b.st.gets, "nothing downloaded")
	})
	t.Run("OKSegmentsStoredWithTheirList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pad.res = tracks.PadResult{Offset: 2.5, Duration: 400, Shift: 2.507, Ext: "webm", ContentType: "audio/webm"}
		b.pad.segs = []float64{2.507, 310.5, 377.25}
		out, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		listKey := tracks.SegmentsKey(tid, 1)
		require.Equal(t, tid+"/tracks/padded_1.segments.json", listKey)
		list := b.st.data["work/"+listKey]
		require.Equal(t, tracks.PadOutput{Bucket: "work", Key: listKey, Size: int64(len(list)), Offset: 2.5,
			Source: store.SourceSegments}, out)
		require.Equal(t, store.PaddedTrack{Bucket: "work", Key: listKey, SHA256: sha(list), Size: int64(len(list)), Shift: 2.507,
			RunID: "run1", Source: store.SourceSegments, Ext: "webm"}, b.db.track.Padded)
		var got tracks.Segments
		require.NoError(t, json.Unmarshal(list, &got))
		require.Len(t, got.Segments, 3)
		for k, seg := range got.Segments {
			body := fmt.Appendf(nil, "segment %d", k)
			require.Equal(t, tracks.StoredSegment{Key: tracks.SegmentKey(tid, 1, k, "webm"), SHA256: sha(body),
				Size: int64(len(body)), Shift: b.pad.segs[k], Duration: 10 + float64(k)}, seg)
			require.Equal(t, body, b.st.data["work/"+seg.Key])
			require.Contains(t, seg.Key, tracks.PaddedPrefix(tid), "under the prefix finalize deletes")
		}
		require.Equal(t, 4, b.st.puts, "three segments and their list")

		// A retry of the same run reuses them.
		again, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		require.True(t, again.Reused)
		require.Equal(t, store.SourceSegments, again.Source)
		require.Equal(t, 1, b.pad.calls)
		require.Equal(t, 4, b.st.puts)
	})
	t.Run("ErrEmptyFile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.st.objects["daily/raw/b.webm"] = 0
		_, err := b.steps.PadTrack(ctx, in)
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.ErrorContains(t, err, "track 1 (raw/b.webm): the file is empty")
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		delete(b.st.objects, "daily/raw/b.webm")
		_, err := b.steps.PadTrack(ctx, in)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
		require.ErrorContains(t, err, "pad track 1")
	})
	t.Run("ErrPadderNamesTheTrack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pad.err = parley.Errorf(parley.EINVALID, "not audio")
		_, err := b.steps.PadTrack(ctx, in)
		require.ErrorContains(t, err, "pad track 1 (raw/b.webm): not audio")
		require.Zero(t, b.db.padded, "nothing half-written")
	})
	t.Run("ErrUnknownTrack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		bad := in
		bad.TrackIndex = 5
		_, err := b.steps.PadTrack(ctx, bad)
		require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
	})
}

func TestTranscribeTrack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := tracks.Input{TranscriptID: tid, TrackIndex: 1, NumTracks: 2, Language: "en", PipelineRunID: "run1"}

	t.Run("ErrNotPadded", func(t *testing.T) {
		t.Parallel()
		_, err := setup(t).steps.TranscribeTrack(ctx, in)
		require.Equal(t, parley.EINTERNAL, parley.ErrorCode(err))
	})
	t.Run("OKWordsOnTheTracksSpeaker", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		out, err := b.steps.TranscribeTrack(ctx, in)
		require.NoError(t, err)
		require.Equal(t, tracks.Output{TrackIndex: 1, Words: 1, AudioSeconds: 60}, out)
		require.Equal(t, 1, b.db.words[1][0].Speaker, "the speaker is the track index, whatever the ASR said")
		require.Equal(t, sha([]byte("padded audio")), b.asr.req.SHA256)
		require.Equal(t, "en", b.asr.req.Language)
		require.Equal(t, 1, b.asr.req.Speaker)
		url, err := b.asr.req.URL(ctx)
		require.NoError(t, err)
		require.Contains(t, url, tracks.PaddedKey(tid, 1, ".wav"))
	})
	t.Run("OKOriginalHashedAndNamedByItsFormat", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// A Daily raw track's key has no extension; the ASR tells formats
		// by the file name.
		b.db.track.Key = "raw/1763800000000-b-cam-audio-1763800001000"
		b.st.objects["daily/"+b.db.track.Key] = 1000
		b.pad.res = tracks.PadResult{UseOriginal: true, Shift: 3, Offset: 3, Duration: 60, Ext: "webm"}
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		_, err = b.steps.TranscribeTrack(ctx, in)
		require.NoError(t, err)
		sum := sha256.Sum256([]byte("audio bytes"))
		require.Equal(t, hex.EncodeToString(sum[:]), b.asr.req.SHA256, "the cache key is the original's content")
		require.Equal(t, "track_1.webm", filepath.Base(b.asr.req.Path))
		require.InDelta(t, 3.0, b.asr.req.Shift, 0, "word times shifted by the offset")
		require.Equal(t, 1, b.st.gets, "downloaded once")
	})
	t.Run("OKSegmentsEachOnItsOwnShiftedByItsStart", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		shifts := []float64{2.507, 310.5, 377.25, 400, 450.125, 600}
		b.pad.res = tracks.PadResult{Offset: 2.5, Duration: 700, Shift: 2.507, Ext: "webm", ContentType: "audio/webm"}
		b.pad.segs = shifts
		b.asr.block = tracks.SegmentConcurrency // the first four run together
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := b.steps.TranscribeTrack(tctx, in)
		require.NoError(t, err)
		require.Equal(t, tracks.Output{TrackIndex: 1, Words: 6, AudioSeconds: 10*6 + 15}, out)
		require.Equal(t, tracks.SegmentConcurrency, b.asr.most, "segments transcribed %d at once", tracks.SegmentConcurrency)
		require.Len(t, b.asr.reqs, 6)
		byName := map[string]tracks.TranscribeRequest{}
		for _, r := range b.asr.reqs {
			byName[filepath.Base(r.Path)] = r
		}
		for k, shift := range shifts {
			key := tracks.SegmentKey(tid, 1, k, "webm")
			r, ok := byName[filepath.Base(key)]
			require.True(t, ok, "segment %d sent, named by its format", k)
			require.Equal(t, sha(fmt.Appendf(nil, "segment %d", k)), r.SHA256, "the cache key is the segment's content")
			require.InDelta(t, shift, r.Shift, 0)
			require.InDelta(t, 10+float64(k), r.Duration, 0)
			require.Equal(t, 1, r.Speaker)
			require.Equal(t, "en", r.Language)
			url, err := r.URL(ctx)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(url, "/work/"+key), url)
			// Its word, on meeting time, in segment order.
			require.Equal(t, parley.Word{Text: "hello", Start: 1 + shift, End: 1.5 + shift, Speaker: 1}, b.db.words[1][k])
		}
	})
	t.Run("ErrSegmentFailsTheTrack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pad.res = tracks.PadResult{Offset: 2.5, Duration: 700, Shift: 2.507, Ext: "webm", ContentType: "audio/webm"}
		b.pad.segs = []float64{2.507, 310.5}
		b.asr.failOn = filepath.Base(tracks.SegmentKey(tid, 1, 1, "webm"))
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		_, err = b.steps.TranscribeTrack(ctx, in)
		require.ErrorContains(t, err, "transcribe track 1: segment 1: HTTP 503")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Empty(t, b.db.words, "no words stored on failure")
	})
	t.Run("ErrForeignSegmentInTheList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.pad.res = tracks.PadResult{Offset: 2.5, Duration: 700, Shift: 2.507, Ext: "webm", ContentType: "audio/webm"}
		b.pad.segs = []float64{2.507}
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		// A list that names another track's object.
		bad, err := json.Marshal(tracks.Segments{Segments: []tracks.StoredSegment{{Key: "daily/raw/b.webm", SHA256: "x"}}})
		require.NoError(t, err)
		b.st.data["work/"+tracks.SegmentsKey(tid, 1)] = bad
		_, err = b.steps.TranscribeTrack(ctx, in)
		require.Equal(t, parley.EINTERNAL, parley.ErrorCode(err))
		require.ErrorContains(t, err, "segment 0")
		require.Empty(t, b.asr.reqs)
	})
	t.Run("ErrASRNamesTheTrack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.steps.PadTrack(ctx, in)
		require.NoError(t, err)
		b.asr.err = parley.Errorf(parley.ETRANSIENT, "HTTP 503")
		_, err = b.steps.TranscribeTrack(ctx, in)
		require.ErrorContains(t, err, "transcribe track 1: HTTP 503")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
		require.Empty(t, b.db.words, "no words stored on failure")
	})
}

func TestPaddedKeyAndInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		i    int
		ext  string
		want string
	}{{0, ".wav", tid + "/tracks/padded_0.wav"}, {3, "webm", tid + "/tracks/padded_3.webm"}, {12, ".mp3", tid + "/tracks/padded_12.mp3"}} {
		require.Equal(t, tt.want, tracks.PaddedKey(tid, tt.i, tt.ext))
	}
	in := tracks.Input{TranscriptID: tid, TrackIndex: 2, NumTracks: 4}
	require.Equal(t, tid, in.Subject())
	i, n := in.Track()
	require.Equal(t, [2]int{2, 4}, [2]int{i, n})
}
