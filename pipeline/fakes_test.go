package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
	"github.com/parley-dev/parley/tracks"
)

// The fakes below stand in for the adapters in the fast tier (go test
// -short): each holds what a step reads and records what it writes.

type event struct {
	Name string
	Data any
}

// memStore is an in-memory Store for one transcript. Methods no test
// needs are left to the embedded nil Store (calling one panics, naming it).
type memStore struct {
	Store
	mu           sync.Mutex
	t            parley.Transcript
	tracks       []store.TrackState
	participants []parley.Participant
	words        []parley.Word
	topics       []store.StoredTopic
	subjects     []parley.Subject
	waveform     []float64
	recording    *store.Recording
	denied       bool
	events       []event
	completed    map[string]int
	attempts     []store.StepAttempt
	finished     []string // status of each finished attempt
	failed       []parley.StepRecord
	stepErr      *parley.StepError
	refreshed    int
	// fail makes the named method return the error.
	fail  map[string]error
	notes []string // audit notes, in the order attempts finished
}

func newMemStore(tid string) *memStore {
	return &memStore{t: parley.Transcript{ID: tid, Status: parley.StatusUploaded}, completed: map[string]int{}, fail: map[string]error{}}
}

func (m *memStore) err(method string) error { return m.fail[method] }

func (m *memStore) GetTranscript(_ context.Context, id string) (*parley.Transcript, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.err("GetTranscript"); err != nil {
		return nil, err
	}
	t := m.t
	return &t, nil
}

func (m *memStore) UpdateTranscript(_ context.Context, _ string, u store.TranscriptUpdate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.err("UpdateTranscript"); err != nil {
		return err
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&m.t.Name, u.Name)
	set(&m.t.Title, u.Title)
	set(&m.t.ShortSummary, u.ShortSummary)
	set(&m.t.LongSummary, u.LongSummary)
	set(&m.t.AudioKey, u.AudioKey)
	if u.ActionItems != nil {
		m.t.ActionItems = *u.ActionItems
	}
	if u.DurationSeconds != nil {
		m.t.DurationSeconds = *u.DurationSeconds
	}
	if u.AudioDeleted != nil {
		m.t.AudioDeleted = *u.AudioDeleted
	}
	if u.Waveform != nil {
		m.waveform = u.Waveform
	}
	if u.Progress != nil {
		p := *u.Progress
		m.t.Progress = &p
	}
	return nil
}

func (m *memStore) SetStatus(_ context.Context, _ string, status parley.Status, stepErr *parley.StepError) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.err("SetStatus"); err != nil {
		return false, err
	}
	m.t.Error = nil
	if status == parley.StatusError {
		m.t.Error = stepErr
	}
	if m.t.Status == status {
		return false, nil
	}
	m.t.Status = status
	m.events = append(m.events, event{parley.EventStatus, parley.StatusData{Value: status}})
	return true, nil
}

func (m *memStore) SetStepError(_ context.Context, _ string, e *parley.StepError) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stepErr = e
	return nil
}

func (m *memStore) ListTracks(context.Context, string) ([]store.TrackState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.TrackState(nil), m.tracks...), m.err("ListTracks")
}

func (m *memStore) ClearPaddedTracks(context.Context, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.tracks {
		m.tracks[i].Padded = store.PaddedTrack{}
	}
	return nil
}

func (m *memStore) OtherReferences(context.Context, string, string, string) (int, error) {
	return 0, nil
}

func (m *memStore) ListParticipants(context.Context, string) ([]parley.Participant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.participants, nil
}

func (m *memStore) SetParticipants(_ context.Context, _ string, ps []parley.Participant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.participants = ps
	return nil
}

func (m *memStore) ConsentDenied(context.Context, string) (bool, error) { return m.denied, nil }

func (m *memStore) Waveform(context.Context, string) ([]float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waveform, nil
}

func (m *memStore) GetRecording(context.Context, string) (*store.Recording, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recording == nil {
		return nil, parley.Errorf(parley.ENOTFOUND, "no recording")
	}
	r := *m.recording
	return &r, nil
}

func (m *memStore) SetRecordingInfo(_ context.Context, id, session string, d *int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recording == nil {
		return parley.Errorf(parley.ENOTFOUND, "recording %s not found", id)
	}
	m.recording.MtgSessionID, m.recording.DurationS = session, d
	return nil
}

func (m *memStore) UpsertRecording(_ context.Context, r store.Recording) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recording = &r
	return nil
}

func (m *memStore) ListWords(context.Context, string) ([]parley.Word, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.words, m.err("ListWords")
}

func (m *memStore) CountWords(context.Context, string) (int, error) { return len(m.words), nil }

func (m *memStore) ListTopics(context.Context, string, bool) ([]parley.Topic, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]parley.Topic, len(m.topics))
	for i, t := range m.topics {
		out[i] = t.Topic
	}
	return out, nil
}

func (m *memStore) ReplaceTopics(_ context.Context, _ string, ts []store.StoredTopic) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.topics = ts
	return nil
}

func (m *memStore) ListSubjects(context.Context, string) ([]parley.Subject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]parley.Subject(nil), m.subjects...), nil
}

func (m *memStore) ReplaceSubjects(_ context.Context, _ string, subjects []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subjects = nil
	for i, s := range subjects {
		m.subjects = append(m.subjects, parley.Subject{Index: i, Subject: s})
	}
	return nil
}

func (m *memStore) SetSubjectSummaries(_ context.Context, _ string, idx int, detailed, paragraph string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.subjects {
		if m.subjects[i].Index == idx {
			m.subjects[i].Detailed, m.subjects[i].Paragraph = detailed, paragraph
			return nil
		}
	}
	return fmt.Errorf("no subject %d", idx)
}

func (m *memStore) RefreshSearch(context.Context, string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshed++
	return nil
}

func (m *memStore) AppendEvent(_ context.Context, _ string, name string, data any) (parley.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.err("AppendEvent"); err != nil {
		return parley.Event{}, err
	}
	m.events = append(m.events, event{name, data})
	return parley.Event{Seq: int64(len(m.events)), Name: name}, nil
}

func (m *memStore) PublishProgress(_ context.Context, _ string, d parley.PipelineProgressData) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t.Progress = &parley.Progress{CurrentStep: d.CurrentStep, StepIndex: d.StepIndex, TotalSteps: d.TotalSteps, Percent: d.Percent, Detail: d.Detail}
	m.events = append(m.events, event{parley.EventPipelineProgress, d})
	return nil
}

func (m *memStore) StartStepAttempt(_ context.Context, a store.StepAttempt) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, a)
	return int64(len(m.attempts)), nil
}

func (m *memStore) FinishStepAttempt(_ context.Context, _ int64, status string, _ time.Time, _ parley.Usage, _, note string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished = append(m.finished, status)
	m.notes = append(m.notes, note)
	return nil
}

func (m *memStore) CompletedSteps(context.Context, string, string) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.completed, nil
}

func (m *memStore) FailedAttempts(context.Context, string, string) ([]parley.StepRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]parley.StepRecord(nil), m.failed...), nil
}

// eventNames lists the names of the stored events, in order.
func (m *memStore) eventNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.Name)
	}
	return out
}

// fakeLLM answers every request from its fields; errs fails the calls
// whose input it names.
type fakeLLM struct {
	mu       sync.Mutex
	calls    int
	topicErr map[string]error // by a part of the chunk's text
	subjects []string
	title    string
	err      error
}

func (f *fakeLLM) count() {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
}

func (f *fakeLLM) Topic(_ context.Context, text string, _ []parley.Participant) (string, string, error) {
	f.count()
	for part, err := range f.topicErr {
		if strings.Contains(text, part) {
			return "", "", err
		}
	}
	return "Topic: " + text, "About " + text, nil
}

func (f *fakeLLM) Title(_ context.Context, titles []string) (string, error) {
	f.count()
	return f.title, f.err
}

func (f *fakeLLM) Subjects(context.Context, string, []parley.Participant) ([]string, error) {
	f.count()
	return f.subjects, f.err
}

func (f *fakeLLM) SubjectSummary(_ context.Context, subject, _ string, _ []parley.Participant) (string, string, error) {
	f.count()
	if f.err != nil {
		return "", "", f.err
	}
	return "Details of " + subject, "Paragraph on " + subject, nil
}

func (f *fakeLLM) Recap(context.Context, []parley.Subject, []parley.Participant) (string, error) {
	f.count()
	return "The recap.", f.err
}

func (f *fakeLLM) ActionItems(context.Context, string, []parley.Participant) (parley.ActionItems, error) {
	f.count()
	return parley.ActionItems{}, f.err
}

// fakeStorage keeps objects as a set of bucket/key names.
type fakeStorage struct {
	Storage
	mu      sync.Mutex
	objects map[string]bool
	deleted []string
}

func newFakeStorage(keys ...string) *fakeStorage {
	f := &fakeStorage{objects: map[string]bool{}}
	for _, k := range keys {
		f.objects[k] = true
	}
	return f
}

func (f *fakeStorage) Bucket() string { return "work" }

func (f *fakeStorage) PutFile(_ context.Context, bucket, key, path, _ string) (store.ObjectInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(path)
	if err != nil {
		return store.ObjectInfo{}, err
	}
	f.objects[bucket+"/"+key] = true
	return store.ObjectInfo{Size: st.Size()}, nil
}

func (f *fakeStorage) GetFile(_ context.Context, bucket, key, path string) error {
	f.mu.Lock()
	ok := f.objects[bucket+"/"+key]
	f.mu.Unlock()
	if !ok {
		return parley.Errorf(parley.ENOTFOUND, "no object %s/%s", bucket, key)
	}
	return os.WriteFile(path, []byte("audio"), 0o600)
}

func (f *fakeStorage) Presign(_ context.Context, bucket, key string) (string, error) {
	return "http://storage.invalid/" + bucket + "/" + key, nil
}

func (f *fakeStorage) Exists(_ context.Context, bucket, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[bucket+"/"+key], nil
}

func (f *fakeStorage) Delete(_ context.Context, bucket, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, bucket+"/"+key)
	f.deleted = append(f.deleted, bucket+"/"+key)
	return nil
}

func (f *fakeStorage) List(_ context.Context, bucket, prefix string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		if b, key, _ := cut(k); b == bucket && len(key) >= len(prefix) && key[:len(prefix)] == prefix {
			out = append(out, key)
		}
	}
	return out, nil
}

func cut(k string) (string, string, bool) {
	for i := range k {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
}

// fakeMedia mixes into a small file and returns a fixed result.
type fakeMedia struct {
	mixes int
	res   MixResult
	wave  []float64
	// left is how long the last mix had before its context's deadline
	// (0: none).
	left time.Duration
}

func (f *fakeMedia) Mixdown(ctx context.Context, _ []string, dst string) (MixResult, error) {
	f.mixes++
	f.left = 0
	if d, ok := ctx.Deadline(); ok {
		f.left = time.Until(d)
	}
	return f.res, os.WriteFile(dst, []byte("mp3"), 0o600)
}

func (f *fakeMedia) Waveform(context.Context, string) ([]float64, error) { return f.wave, nil }

// fakeTracks records the children a run asked for.
type fakeTracks struct {
	inputs []tracks.Input
	err    error
}

func (f *fakeTracks) RunTracks(_ context.Context, in []tracks.Input) ([]tracks.Output, error) {
	f.inputs = in
	return nil, f.err
}

// localFanout runs the LLM fan-out's children in process, one after
// another, with their step methods (what the Hatchet children run), and
// records their inputs.
type localFanout struct {
	s        *Steps
	mu       sync.Mutex
	topics   []TopicChunkInput
	subjects []SubjectInput
}

func (f *localFanout) RunTopicChunks(ctx context.Context, in []TopicChunkInput) ([]TopicChunkOutput, error) {
	f.mu.Lock()
	f.topics = append(f.topics, in...)
	f.mu.Unlock()
	return runLocal(ctx, in, f.s.DetectChunkTopic)
}

func (f *localFanout) RunSubjects(ctx context.Context, in []SubjectInput) ([]SubjectOutput, error) {
	f.mu.Lock()
	f.subjects = append(f.subjects, in...)
	f.mu.Unlock()
	return runLocal(ctx, in, f.s.GenerateDetailedSummary)
}

func runLocal[I, O any](ctx context.Context, inputs []I, fn func(context.Context, I) (O, error)) ([]O, error) {
	outs := make([]O, len(inputs))
	var errs []error
	for i, in := range inputs {
		var err error
		if outs[i], err = fn(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	return outs, errors.Join(errs...)
}

// newSteps returns Steps over fakes for one transcript.
func newSteps(t *testing.T, db *memStore) *Steps {
	t.Helper()
	s := &Steps{DB: db, Storage: newFakeStorage(), Media: &fakeMedia{}, LLM: &fakeLLM{}, Tracks: &fakeTracks{},
		Settings: Settings{WorkDir: t.TempDir()}, Now: time.Now, Log: slog.New(slog.DiscardHandler)}
	s.Fanout = &localFanout{s: s}
	return s
}

// words makes n one-second words of speaker 0, "w0".."w<n-1>".
func words(n int) []parley.Word {
	out := make([]parley.Word, n)
	for i := range out {
		out[i] = parley.Word{Text: fmt.Sprintf("w%d", i), Start: float64(i), End: float64(i) + 0.5}
	}
	return out
}
