package parley

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Usage is what a step consumed from paid providers.
type Usage struct {
	// ASRAudioSeconds is the audio sent to (or, when Cached, answered from
	// cache instead of) the speech-to-text provider.
	ASRAudioSeconds float64 `json:"asr_audio_seconds"`
	// ASRCalls counts transcription requests actually sent.
	ASRCalls int `json:"asr_calls"`
	// LLMCalls counts chat completions actually sent (re-asks included).
	LLMCalls            int `json:"llm_calls"`
	LLMPromptTokens     int `json:"llm_prompt_tokens"`
	LLMCompletionTokens int `json:"llm_completion_tokens"`
	// CacheHits counts calls answered from the result cache (no request
	// sent, nothing paid).
	CacheHits int `json:"cache_hits"`
	// ProviderMS is the wall time spent waiting for providers, in ms.
	ProviderMS int64 `json:"provider_ms"`
}

// Cached reports whether any call was answered from the cache.
func (u Usage) Cached() bool { return u.CacheHits > 0 }

// MarshalJSON adds the derived "cached" flag of the contract.
func (u Usage) MarshalJSON() ([]byte, error) {
	type plain Usage
	return json.Marshal(struct {
		plain
		Cached bool `json:"cached"`
	}{plain(u), u.Cached()})
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.ASRAudioSeconds += o.ASRAudioSeconds
	u.ASRCalls += o.ASRCalls
	u.LLMCalls += o.LLMCalls
	u.LLMPromptTokens += o.LLMPromptTokens
	u.LLMCompletionTokens += o.LLMCompletionTokens
	u.CacheHits += o.CacheHits
	u.ProviderMS += o.ProviderMS
}

// IsZero reports whether nothing was used.
func (u Usage) IsZero() bool { return u == Usage{} }

// UsageMeter accumulates Usage from concurrent calls. The zero value is
// ready to use.
type UsageMeter struct {
	mu sync.Mutex
	u  Usage
}

// Add records o.
func (m *UsageMeter) Add(o Usage) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.u.Add(o)
	m.mu.Unlock()
}

// Total returns what has been recorded so far.
func (m *UsageMeter) Total() Usage {
	if m == nil {
		return Usage{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.u
}

type usageKey struct{}

// NewContextWithUsage returns a context that carries m; provider clients
// record their usage into the meter found in their call's context.
func NewContextWithUsage(ctx context.Context, m *UsageMeter) context.Context {
	return context.WithValue(ctx, usageKey{}, m)
}

// UsageFromContext returns the meter carried by ctx, or nil (on which Add is
// a no-op).
func UsageFromContext(ctx context.Context) *UsageMeter {
	m, _ := ctx.Value(usageKey{}).(*UsageMeter)
	return m
}

// StepRecord is one row of a run's audit: one attempt of one step (per track
// for track steps).
type StepRecord struct {
	Name       string `json:"name"`
	TrackIndex *int   `json:"track_index,omitempty"`
	// ChildIndex, on the steps of a fan-out's child runs, is the topic
	// chunk or the subject (from 0).
	ChildIndex    *int       `json:"child_index,omitempty"`
	WorkflowRunID string     `json:"workflow_run_id,omitempty"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	DurationMS    int64      `json:"duration_ms"`
	Usage         Usage      `json:"usage"`
	Error         string     `json:"error,omitempty"`
	// Source, on track steps, is what the speech recogniser got for the
	// track: "original" (the raw track as it is, word times shifted by
	// its offset), "segments" (the raw track split at its mute gaps by
	// stream copy, no re-encode: each segment sent on its own, its word
	// times shifted by the segment's start) or "padded" (a copy on
	// meeting time: gaps filled, or a format or size the recogniser does
	// not take). Empty before pad_track ran.
	Source string `json:"source,omitempty"`
	// Note says what the step did when worth saying, e.g. why it was
	// skipped ("email is off: SMTP_HOST is not set") or "sent to 3
	// recipients".
	Note string `json:"note,omitempty"`
}
