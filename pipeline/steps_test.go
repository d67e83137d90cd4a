package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// Fast tier: each step called directly with the fakes of fakes_test.go.

const tid = "0b8e5f0e-4c1a-4f57-9d55-6c3d2b2f1a10"

// withTrack gives a store's transcript one stored track.
func withTrack(db *memStore) *memStore {
	db.tracks = []store.TrackState{{Track: parley.Track{Index: 0, Bucket: "b", Key: tid + "/upload/a.webm"}}}
	return db
}

func TestGetRecording(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ErrNoTranscriptID", func(t *testing.T) {
		t.Parallel()
		db := withTrack(newMemStore(tid))
		_, err := newSteps(t, db).GetRecording(ctx, Input{})
		require.ErrorContains(t, err, "transcript_id is required")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "not worth a retry")
		require.Equal(t, parley.StatusUploaded, db.t.Status)
	})
	t.Run("ErrNoTracks", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		_, err := newSteps(t, db).GetRecording(ctx, Input{TranscriptID: tid})
		require.ErrorContains(t, err, "has no tracks")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err), "not worth a retry")
		require.Equal(t, parley.StatusUploaded, db.t.Status, "a failed check marks nothing")
	})
	t.Run("OKUploadSkipsDaily", func(t *testing.T) {
		t.Parallel()
		db := withTrack(newMemStore(tid))
		out, err := newSteps(t, db).GetRecording(ctx, Input{TranscriptID: tid})
		require.NoError(t, err)
		require.Contains(t, out.Skipped, "no recording id")
		require.Equal(t, parley.StatusProcessing, db.t.Status)
		require.Equal(t, []string{parley.EventStatus}, db.eventNames())
	})
	t.Run("OKNoDailyKey", func(t *testing.T) {
		t.Parallel()
		out, err := newSteps(t, withTrack(newMemStore(tid))).GetRecording(ctx, Input{TranscriptID: tid, RecordingID: "rec1"})
		require.NoError(t, err)
		require.Contains(t, out.Skipped, "DAILY_API_KEY")
	})
	t.Run("OKRecordingRowCreated", func(t *testing.T) {
		t.Parallel()
		db := withTrack(newMemStore(tid))
		s := newSteps(t, db)
		d := 95
		s.Daily = fakeDaily{rec: DailyRecording{ID: "rec1", MtgSessionID: "m1", Duration: &d}}
		out, err := s.GetRecording(ctx, Input{TranscriptID: tid, RecordingID: "rec1"})
		require.NoError(t, err)
		require.Equal(t, GetRecordingOutput{RecordingID: "rec1", MtgSessionID: "m1", Duration: &d}, out)
		require.Equal(t, "m1", db.recording.MtgSessionID, "a recording started by POST /v1/process gets its row")
	})
	t.Run("ErrDaily", func(t *testing.T) {
		t.Parallel()
		s := newSteps(t, withTrack(newMemStore(tid)))
		s.Daily = fakeDaily{err: parley.Errorf(parley.ETRANSIENT, "daily down")}
		_, err := s.GetRecording(ctx, Input{TranscriptID: tid, RecordingID: "rec1"})
		require.ErrorContains(t, err, "get recording rec1: daily down")
		require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
	})
}

type fakeDaily struct {
	rec DailyRecording
	ps  []DailyParticipant
	err error
}

func (f fakeDaily) Recording(context.Context, string) (DailyRecording, error) { return f.rec, f.err }
func (f fakeDaily) Participants(context.Context, string) ([]DailyParticipant, error) {
	return f.ps, f.err
}

func TestGetParticipants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ErrNoTracks", func(t *testing.T) {
		t.Parallel()
		_, err := newSteps(t, newMemStore(tid)).GetParticipants(ctx, Input{TranscriptID: tid})
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
	})
	t.Run("OKNamesAndDuration", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		db.tracks = []store.TrackState{{Track: parley.Track{Index: 0, ParticipantID: "p1"}}, {Track: parley.Track{Index: 1, Name: "Bob"}}}
		d := 120
		db.recording = &store.Recording{ID: "rec1", MtgSessionID: "m1", DurationS: &d}
		s := newSteps(t, db)
		s.Daily = fakeDaily{ps: []DailyParticipant{{ParticipantID: "p1", UserName: "Alice"}}}
		out, err := s.GetParticipants(ctx, Input{TranscriptID: tid, RecordingID: "rec1"})
		require.NoError(t, err)
		require.Equal(t, GetParticipantsOutput{NumTracks: 2, Participants: []string{"Alice", "Bob"}}, out)
		require.InDelta(t, 120.0, db.t.DurationSeconds, 0)
		require.Equal(t, []event{{parley.EventDuration, parley.DurationData{Duration: 120000}}}, db.events)
	})
}

func TestProcessTracks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.tracks = []store.TrackState{{Track: parley.Track{Index: 0}}, {Track: parley.Track{Index: 1}}}
	db.words = words(7)
	s := newSteps(t, db)
	runner := s.Tracks.(*fakeTracks)
	out, err := s.ProcessTracks(ctx, Input{TranscriptID: tid, Language: "de"})
	require.NoError(t, err)
	require.Equal(t, ProcessTracksOutput{NumTracks: 2, WordCount: 7}, out)
	require.Len(t, runner.inputs, 2)
	require.Equal(t, 1, runner.inputs[1].TrackIndex)
	require.Equal(t, 2, runner.inputs[1].NumTracks)
	require.Equal(t, "de", runner.inputs[1].Language)

	runner.err = errors.New("track 1: boom")
	_, err = s.ProcessTracks(ctx, Input{TranscriptID: tid})
	require.ErrorContains(t, err, "track 1: boom")

	_, err = newSteps(t, newMemStore(tid)).ProcessTracks(ctx, Input{TranscriptID: tid})
	require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
}

func TestDetectTopics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("OKChunksInOrder", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		db.words = words(800)
		s := newSteps(t, db)
		out, err := s.DetectTopics(ctx, Input{TranscriptID: tid})
		require.NoError(t, err)
		_, chunks := TopicChunking(800, 799500*time.Millisecond)
		require.Len(t, chunks, 2)
		require.Equal(t, DetectTopicsOutput{Topics: 2, Words: 800}, out)
		require.Len(t, db.topics, 2)
		last := db.topics[1]
		require.Equal(t, [2]int{chunks[1].From, chunks[1].To}, [2]int{last.WordFrom, last.WordTo})
		require.InDelta(t, float64(chunks[1].From), last.Timestamp, 0, "timestamps come from the words, not the LLM")
		require.InDelta(t, float64(chunks[1].Len())-0.5, last.Duration, 1e-9)
		require.True(t, strings.HasPrefix(last.Transcript, fmt.Sprintf("w%d w%d", chunks[1].From, chunks[1].From+1)))
		require.Equal(t, []string{parley.EventTopic, parley.EventTopic}, db.eventNames())
		require.Equal(t, store.TopicID(tid, 0), db.events[0].Data.(parley.TopicData).ID)
	})
	t.Run("ErrNamesTheChunkAndStoresNothing", func(t *testing.T) {
		t.Parallel()
		db := newMemStore(tid)
		db.words = words(800)
		s := newSteps(t, db)
		s.LLM = &fakeLLM{topicErr: map[string]error{"w799": parley.Errorf(parley.EINVALID, "HTTP 400")}}
		_, err := s.DetectTopics(ctx, Input{TranscriptID: tid})
		require.ErrorContains(t, err, "topic 2 of 2: HTTP 400")
		require.Equal(t, parley.EINVALID, parley.ErrorCode(err))
		require.Empty(t, db.topics)
		require.Empty(t, db.events)
	})
	t.Run("OKNoWords", func(t *testing.T) {
		t.Parallel()
		out, err := newSteps(t, newMemStore(tid)).DetectTopics(ctx, Input{TranscriptID: tid})
		require.NoError(t, err)
		require.Zero(t, out.Topics)
	})
}

func TestGenerateTitle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	s := newSteps(t, db)
	out, err := s.GenerateTitle(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.NotEmpty(t, out.Skipped, "no topics, no title")
	db.topics = []store.StoredTopic{{Topic: parley.Topic{Title: "Budget"}}}
	s.LLM = &fakeLLM{title: "Budget review"}
	out, err = s.GenerateTitle(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, "Budget review", out.Title)
	require.Equal(t, "Budget review", db.t.Title)
	require.Equal(t, []event{{parley.EventFinalTitle, parley.FinalTitleData{Title: "Budget review"}}}, db.events)
}

func TestSubjectSteps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.words = words(3)
	db.t.DurationSeconds = 2 * 3600 // a long meeting: the most subjects
	s := newSteps(t, db)
	llm := &fakeLLM{subjects: []string{"a", "b", "c", "d", "e", "f", "g", "h"}}
	s.LLM = llm
	out, err := s.ExtractSubjects(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Len(t, out.Subjects, MaxSubjects, "at most six subjects")
	require.Len(t, db.subjects, MaxSubjects)

	sum, err := s.ProcessSubjects(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, MaxSubjects, sum.Summarized)
	require.Equal(t, "Paragraph on f", db.subjects[5].Paragraph)

	recap, err := s.GenerateRecap(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, "The recap.", recap.ShortSummary)
	require.Contains(t, db.t.LongSummary, "**a**\nParagraph on a")
	require.Equal(t, []string{parley.EventFinalShortSummary, parley.EventFinalLongSummary}, db.eventNames())

	llm.err = parley.Errorf(parley.ETRANSIENT, "rate limited")
	_, err = s.ProcessSubjects(ctx, Input{TranscriptID: tid})
	require.ErrorContains(t, err, "summarize subject")
	require.Equal(t, parley.ETRANSIENT, parley.ErrorCode(err))
}

func TestSubjectStepsWithoutSpeech(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	s := newSteps(t, db)
	llm := s.LLM.(*fakeLLM)
	out, err := s.ExtractSubjects(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Empty(t, out.Subjects)
	sum, err := s.ProcessSubjects(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Zero(t, sum.Summarized)
	recap, err := s.GenerateRecap(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.NotEmpty(t, recap.Skipped)
	items, err := s.IdentifyActionItems(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, ActionItemsOutput{}, items)
	require.Zero(t, llm.calls, "no speech, no LLM call")
	require.NotNil(t, db.t.ActionItems.Decisions, "empty lists, never null")
	require.NotNil(t, db.t.ActionItems.NextSteps)
	require.Equal(t, []string{parley.EventActionItems}, db.eventNames())
}

func TestMixdownTracks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.tracks = []store.TrackState{{Track: parley.Track{Index: 0, Bucket: "daily", Key: "a.webm"}}}
	s := newSteps(t, db)
	media := &fakeMedia{res: MixResult{Duration: 61.5, Waveform: []float64{0.1, 0.9}}}
	s.Media = media
	out, err := s.MixdownTracks(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, MixdownOutput{AudioKey: AudioKey(tid), Duration: 61.5, TracksMixed: 1}, out)
	require.Equal(t, AudioKey(tid), db.t.AudioKey)
	require.Equal(t, []float64{0.1, 0.9}, db.waveform)
	require.Equal(t, []event{{parley.EventDuration, parley.DurationData{Duration: 61500}}}, db.events)

	// A retry finds the MP3 and its waveform: nothing is mixed again.
	again, err := s.MixdownTracks(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.True(t, again.Reused)
	require.Equal(t, 1, media.mixes)
}

func TestMixdownKeepsDailysDuration(t *testing.T) {
	t.Parallel()
	db := newMemStore(tid)
	db.t.DurationSeconds = 60
	s := newSteps(t, db)
	s.Media = &fakeMedia{res: MixResult{Duration: 61.5}}
	_, err := s.MixdownTracks(context.Background(), Input{TranscriptID: tid})
	require.NoError(t, err)
	require.InDelta(t, 60.0, db.t.DurationSeconds, 0)
	require.Empty(t, db.events, "no DURATION: the known one stands")
}

func TestGenerateWaveform(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	db.waveform = []float64{0.5}
	s := newSteps(t, db)
	out, err := s.GenerateWaveform(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, 1, out.Points)

	// Missing: computed again from the stored MP3.
	db2 := newMemStore(tid)
	s2 := newSteps(t, db2)
	s2.Storage = newFakeStorage("work/" + AudioKey(tid))
	s2.Media = &fakeMedia{wave: []float64{0.2, 0.4, 0.6}}
	out, err = s2.GenerateWaveform(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, 3, out.Points)
	require.Equal(t, []float64{0.2, 0.4, 0.6}, db2.waveform)
	require.Equal(t, []event{{parley.EventWaveform, parley.WaveformData{Waveform: []float64{0.2, 0.4, 0.6}}}}, db2.events)

	_, err = newSteps(t, newMemStore(tid)).GenerateWaveform(ctx, Input{TranscriptID: tid})
	require.ErrorContains(t, err, "waveform")
	require.Equal(t, parley.ENOTFOUND, parley.ErrorCode(err))
}

func TestFinalize(t *testing.T) {
	t.Parallel()
	db := newMemStore(tid)
	db.t.Status = parley.StatusProcessing
	db.tracks = []store.TrackState{
		{Track: parley.Track{Index: 0, Bucket: "daily", Key: "a.webm"}, Source: store.SourcePadded,
			Padded: store.PaddedTrack{Bucket: "work", Key: tid + "/tracks/padded_0.wav"}},
		{Track: parley.Track{Index: 1, Bucket: "daily", Key: "b.webm"}, Source: store.SourceOriginal,
			Padded: store.PaddedTrack{Bucket: "daily", Key: "b.webm"}},
		// An upload, used as is: under the transcript's prefix, but an
		// original.
		{Track: parley.Track{Index: 2, Bucket: "work", Key: tid + "/uploads/c.webm"}, Source: store.SourceOriginal,
			Padded: store.PaddedTrack{Bucket: "work", Key: tid + "/uploads/c.webm"}},
		// Split at its mute gaps: the list and its segments.
		{Track: parley.Track{Index: 3, Bucket: "daily", Key: "d.webm"}, Source: store.SourceSegments,
			Padded: store.PaddedTrack{Bucket: "work", Key: tracks.SegmentsKey(tid, 3)}},
	}
	db.words = words(2)
	s := newSteps(t, db)
	st := newFakeStorage("work/"+tid+"/tracks/padded_0.wav", "daily/b.webm", "work/"+tid+"/uploads/c.webm",
		// Padded by an earlier run, before the track was reused.
		"work/"+tid+"/tracks/padded_2.mp3",
		"daily/d.webm", "work/"+tracks.SegmentsKey(tid, 3), "work/"+tracks.SegmentKey(tid, 3, 0, "webm"),
		"work/"+tracks.SegmentKey(tid, 3, 1, "webm"))
	s.Storage = st
	out, err := s.Finalize(context.Background(), Input{TranscriptID: tid})
	require.NoError(t, err)
	require.Equal(t, FinalizeOutput{Status: parley.StatusEnded, DeletedPadded: 5, TracksOriginal: 2, TracksSegments: 1, TracksPadded: 1}, out)
	sort.Strings(st.deleted)
	require.Equal(t, []string{"work/" + tid + "/tracks/padded_0.wav", "work/" + tid + "/tracks/padded_2.mp3",
		"work/" + tid + "/tracks/padded_3.seg000.webm", "work/" + tid + "/tracks/padded_3.seg001.webm",
		"work/" + tid + "/tracks/padded_3.segments.json"}, st.deleted,
		"the padded copies, the segments and their list, and no original")
	require.Equal(t, parley.StatusEnded, db.t.Status)
	require.Equal(t, []string{parley.EventTranscript, parley.EventStatus}, db.eventNames(), "the transcript, then ended")
	require.Equal(t, 1, db.refreshed)
	require.Empty(t, db.tracks[0].Padded.Key)
}

func TestCleanupConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newMemStore(tid)
	s := newSteps(t, db)
	st := newFakeStorage("work/"+AudioKey(tid), "work/other/audio.mp3")
	s.Storage = st
	out, err := s.CleanupConsent(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.False(t, out.ConsentDenied)
	require.Empty(t, st.deleted)

	db.denied = true
	out, err = s.CleanupConsent(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	require.True(t, out.ConsentDenied)
	require.Equal(t, []string{"work/" + AudioKey(tid)}, st.deleted, "only what the transcript owns")
	require.True(t, db.t.AudioDeleted)

	// Each track says what the recogniser got and what became of its raw
	// track; one lies under another transcript's prefix and stays.
	db2 := newMemStore(tid)
	db2.denied = true
	other := "1b8e5f0e-4c1a-4f57-9d55-6c3d2b2f1a10/uploads/x.webm"
	db2.tracks = []store.TrackState{
		{Track: parley.Track{Index: 0, Bucket: "daily", Key: "a.webm"}, Source: store.SourceOriginal},
		{Track: parley.Track{Index: 1, Bucket: "work", Key: other}, Source: store.SourcePadded},
		// Split at its mute gaps; finalize has not run (the segments and
		// their list are still there).
		{Track: parley.Track{Index: 2, Bucket: "daily", Key: "c.webm"}, Source: store.SourceSegments,
			Padded: store.PaddedTrack{Bucket: "work", Key: tracks.SegmentsKey(tid, 2), Source: store.SourceSegments}},
	}
	s2 := newSteps(t, db2)
	st2 := newFakeStorage("daily/a.webm", "work/"+other, "daily/c.webm", "work/"+tracks.SegmentsKey(tid, 2),
		"work/"+tracks.SegmentKey(tid, 2, 0, "webm"), "work/"+tracks.SegmentKey(tid, 2, 1, "webm"))
	s2.Storage = st2
	out, err = s2.CleanupConsent(ctx, Input{TranscriptID: tid})
	require.NoError(t, err)
	sort.Strings(st2.deleted)
	require.Equal(t, []string{"daily/a.webm", "daily/c.webm", "work/" + tracks.SegmentKey(tid, 2, 0, "webm"),
		"work/" + tracks.SegmentKey(tid, 2, 1, "webm"), "work/" + tracks.SegmentsKey(tid, 2)}, st2.deleted)
	require.Len(t, out.Tracks, 3)
	require.Equal(t, TrackCleanup{Track: 0, Source: store.SourceOriginal, Original: "deleted"}, out.Tracks[0])
	require.Equal(t, store.SourcePadded, out.Tracks[1].Source)
	require.Contains(t, out.Tracks[1].Original, "kept")
	require.Equal(t, TrackCleanup{Track: 2, Source: store.SourceSegments, Original: "deleted"}, out.Tracks[2])
}
