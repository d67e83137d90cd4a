package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/media"
)

// AudioRequest is one track's audio for speech to text, as the
// transcribe_track step has it.
type AudioRequest struct {
	// Path is a local copy of the audio (the openai backend uploads it,
	// split at silences when it is over Config.MaxUploadBytes).
	Path string
	// URL presigns the audio at the time of use (the reflector backend
	// sends the URL; nothing is presigned before it is needed).
	URL func(ctx context.Context) (string, error)
	// SHA256 is the hex digest of the audio bytes. With the backend, the
	// endpoint, the model and the language it forms the cache key; empty
	// disables the cache for this call.
	SHA256 string
	// Duration of the audio in seconds, for usage accounting (and to size
	// the pieces of a split).
	Duration float64
	// Speaker is the track index, set on every word.
	Speaker int
	// Shift (s) is added to every word time: the meeting time at which the
	// audio sent starts. It is not part of the cache key (the cache holds
	// words on the file's own clock).
	Shift float64
	// Language is the spoken language (ISO 639-1, e.g. "en"); empty lets
	// the openai backend detect it and sends "en" to the reflector backend
	// (the reference's default).
	Language string
}

// Splitter cuts a long audio file into pieces of at most maxDuration
// seconds, at silences, written into dstDir; each piece's Start is its
// position in src. MediaSplitter is the real one.
type Splitter func(ctx context.Context, src, dstDir string, maxDuration float64) ([]media.Piece, error)

// MediaSplitter is the Splitter of package media.
func MediaSplitter(ctx context.Context, src, dstDir string, maxDuration float64) ([]media.Piece, error) {
	return media.Split(ctx, src, dstDir, media.SplitOptions{MaxDuration: maxDuration})
}

// maxSplitDepth bounds how often a piece still over the upload limit is
// split again.
const maxSplitDepth = 3

// ASR turns audio into words through an OpenAI-compatible or a
// reflector-style endpoint, with a content-addressed cache. It is safe for
// concurrent use.
type ASR struct {
	cfg   Config
	cache Cache
	split Splitter
	http  *http.Client
	oa    openai.AudioTranscriptionService
	log   *slog.Logger
}

// NewASR returns the speech-to-text client. cache may be nil (no
// caching), split nil (MediaSplitter), hc nil (a plain http.Client; each
// request is bounded by Config.TranscriptTimeout), log nil
// (slog.Default()). openai-go's own retries are off: the workflow step's
// policy retries.
func NewASR(cfg Config, cache Cache, split Splitter, hc *http.Client, log *slog.Logger) *ASR {
	cfg = cfg.withDefaults()
	if hc == nil {
		hc = &http.Client{}
	}
	if log == nil {
		log = slog.Default()
	}
	if split == nil {
		split = MediaSplitter
	}
	// The service, not openai.NewClient: NewClient also reads OPENAI_*
	// variables (organisation, project, admin key, custom headers), which
	// must not reach another provider.
	oa := openai.NewAudioTranscriptionService(option.WithBaseURL(cfg.TranscriptURL+"/"),
		option.WithAPIKey(cfg.TranscriptAPIKey), option.WithHTTPClient(hc), option.WithMaxRetries(0),
		option.WithMiddleware(captureFailures))
	return &ASR{cfg: cfg, cache: cache, split: split, http: hc, oa: oa, log: log.With("component", "asr")}
}

// fileWord is a word on the audio file's own clock.
type fileWord struct {
	Text  string  `json:"text"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Transcribe returns the words of the audio on meeting time (Shift
// added), with Speaker as speaker, sorted by start. Silence gives zero
// words and no error. A result is cached by audio content, backend,
// endpoint, model and language, so a retried or replayed step never pays
// twice. Usage (calls, audio seconds, provider time, cache hits) goes to
// the context's parley.UsageMeter.
//
// Errors: parley.ETRANSIENT for 5xx, 429, timeouts and network errors;
// parley.EUNAUTHORIZED for 401/403; parley.EINVALID for other 4xx (the
// provider's message included); parley.EINTERNAL when the request lacks
// what its backend needs.
func (a *ASR) Transcribe(ctx context.Context, req AudioRequest) ([]parley.Word, error) {
	meter := parley.UsageFromContext(ctx)
	key := ""
	if req.SHA256 != "" && a.cache != nil {
		key = cacheKey("asr", a.cfg.Backend, a.cfg.TranscriptURL, a.cfg.TranscriptModel, req.Language, req.SHA256)
		if b, ok, err := a.cache.Get(ctx, key); err != nil {
			a.log.WarnContext(ctx, "cache read failed; calling the provider", "error", err)
		} else if ok {
			var fw []fileWord
			if err := json.Unmarshal(b, &fw); err == nil {
				meter.Add(parley.Usage{CacheHits: 1, ASRAudioSeconds: req.Duration})
				return toMeeting(fw, req), nil
			}
			a.log.WarnContext(ctx, "cache entry unreadable; calling the provider", "key", key)
		}
	}
	t0 := time.Now()
	var fw []fileWord
	var calls int
	var err error
	switch a.cfg.Backend {
	case BackendReflector:
		fw, err = a.fromURL(ctx, req)
		calls = 1
	default:
		fw, calls, err = a.upload(ctx, req)
	}
	u := parley.Usage{ASRCalls: calls, ProviderMS: time.Since(t0).Milliseconds()}
	if err == nil {
		u.ASRAudioSeconds = req.Duration
	}
	meter.Add(u)
	if err != nil {
		return nil, err // the caller names the track
	}
	sort.SliceStable(fw, func(i, j int) bool { return fw[i].Start < fw[j].Start })
	a.log.DebugContext(ctx, "transcribed", "backend", a.cfg.Backend, "speaker", req.Speaker, "requests", calls,
		"words", len(fw), "ms", u.ProviderMS)
	if key != "" {
		if b, err := json.Marshal(fw); err == nil {
			if err := a.cache.Put(ctx, key, "asr", b); err != nil {
				a.log.WarnContext(ctx, "cache write failed", "error", err)
			}
		}
	}
	return toMeeting(fw, req), nil
}

func toMeeting(fw []fileWord, req AudioRequest) []parley.Word {
	out := make([]parley.Word, 0, len(fw))
	for _, w := range fw {
		text := strings.TrimSpace(w.Text)
		if text == "" {
			continue
		}
		out = append(out, parley.Word{Text: text, Start: round3(w.Start + req.Shift), End: round3(w.End + req.Shift), Speaker: req.Speaker})
	}
	return out
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// upload sends the local file (split at silences when over the upload
// limit) and reports how many requests it took.
func (a *ASR) upload(ctx context.Context, req AudioRequest) ([]fileWord, int, error) {
	if req.Path == "" {
		return nil, 0, parley.Errorf(parley.EINTERNAL, "no local audio file for the %s backend", a.cfg.Backend)
	}
	return a.uploadFile(ctx, req.Path, req.Duration, req.Language, 0)
}

// uploadFile sends path, or, when it is over the limit, splits it into
// pieces sized from its bytes per second (with a margin) and sends those,
// shifting their words by the piece's start. A piece still over the limit
// (the pieces' encoding may differ from the source's) is split again.
func (a *ASR) uploadFile(ctx context.Context, path string, dur float64, language string, depth int) ([]fileWord, int, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, parley.WrapError(parley.EINTERNAL, err, "audio file missing")
	}
	if st.Size() <= a.cfg.MaxUploadBytes {
		fw, err := a.uploadOne(ctx, path, language)
		return fw, 1, err
	}
	if depth >= maxSplitDepth {
		return nil, 0, parley.Errorf(parley.EINVALID, "%s is %d bytes and could not be split under the upload limit of %d bytes",
			filepath.Base(path), st.Size(), a.cfg.MaxUploadBytes)
	}
	if dur <= 0 {
		dur = 3600 // unknown: a piece still too large is split again
	}
	maxDur := math.Max(5, dur*float64(a.cfg.MaxUploadBytes)/float64(st.Size())*0.8)
	dir, err := os.MkdirTemp(filepath.Dir(path), "split-")
	if err != nil {
		return nil, 0, parley.WrapError(parley.EINTERNAL, err, "split %s", filepath.Base(path))
	}
	defer os.RemoveAll(dir)
	pieces, err := a.split(ctx, path, dir, maxDur)
	if err != nil {
		return nil, 0, fmt.Errorf("split %s: %w", filepath.Base(path), err)
	}
	a.log.InfoContext(ctx, "audio over the upload limit; sending it in pieces", "bytes", st.Size(),
		"limit", a.cfg.MaxUploadBytes, "pieces", len(pieces), "piece_seconds", round3(maxDur))
	var all []fileWord
	calls := 0
	for _, p := range pieces {
		fw, n, err := a.uploadFile(ctx, p.Path, p.Duration, language, depth+1)
		calls += n
		if err != nil {
			return nil, calls, fmt.Errorf("piece at %.1f s: %w", p.Start, err)
		}
		for _, w := range fw {
			w.Start += p.Start
			w.End += p.Start
			all = append(all, w)
		}
	}
	return all, calls, nil
}

func (a *ASR) uploadOne(ctx context.Context, path, language string) ([]fileWord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, parley.WrapError(parley.EINTERNAL, err, "open audio")
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.TranscriptTimeout)
	defer cancel()
	params := openai.AudioTranscriptionNewParams{
		Model:                  openai.AudioModel(a.cfg.TranscriptModel),
		ResponseFormat:         openai.AudioResponseFormatVerboseJSON,
		TimestampGranularities: []string{"word"},
	}
	if language != "" {
		params.Language = openai.String(language)
	}
	body, ctype, size, err := streamedForm(params, f, filepath.Base(path), contentType(path))
	if err != nil {
		return nil, parley.WrapError(parley.EINTERNAL, err, "build the upload")
	}
	ctx, failure := withFailureCapture(ctx)
	// The form goes as the request's body (openai-go would build it in
	// memory, the whole file included, for every transcription in
	// flight), with its length: servers may refuse a chunked upload.
	res, err := a.oa.New(ctx, openai.AudioTranscriptionNewParams{}, option.WithRequestBody(ctype, body),
		option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
			req.ContentLength = size
			return next(req)
		}))
	if err != nil {
		return nil, classifyCall(asrProvider, err, failure)
	}
	return verboseWords(res.AsTranscriptionVerbose())
}

// streamedForm is the multipart form of a transcription request that
// reads the file while it is sent: the fields and the file part's header,
// the file, the closing boundary. It returns the body, its content type
// and its length.
func streamedForm(params openai.AudioTranscriptionNewParams, f *os.File, name, ctype string) (io.Reader, string, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, "", 0, err
	}
	var head, tail bytes.Buffer
	w := multipart.NewWriter(&head)
	if err := params.MarshalMultipartTo(w); err != nil {
		return nil, "", 0, err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
	h.Set("Content-Type", ctype)
	if _, err := w.CreatePart(h); err != nil {
		return nil, "", 0, err
	}
	// What Close writes after the file: the closing boundary.
	prefix := bytes.Clone(head.Bytes())
	head.Reset()
	if err := w.Close(); err != nil {
		return nil, "", 0, err
	}
	tail.Write(head.Bytes())
	size := int64(len(prefix)) + st.Size() + int64(tail.Len())
	return io.MultiReader(bytes.NewReader(prefix), io.NewSectionReader(f, 0, st.Size()), &tail), w.FormDataContentType(), size, nil
}

// verboseWords reads the words of a verbose_json answer. Servers without
// word timestamps still return segments: their words are spread evenly
// over each segment. Text without either is an error (the words would be
// lost silently).
func verboseWords(v openai.TranscriptionVerbose) ([]fileWord, error) {
	out := make([]fileWord, 0, len(v.Words))
	for _, w := range v.Words {
		out = append(out, fileWord{Text: w.Word, Start: w.Start, End: w.End})
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, seg := range v.Segments {
		ws := strings.Fields(seg.Text)
		step := (seg.End - seg.Start) / float64(max(len(ws), 1))
		for i, w := range ws {
			out = append(out, fileWord{Text: w, Start: seg.Start + float64(i)*step, End: seg.Start + float64(i+1)*step})
		}
	}
	if len(out) == 0 && strings.TrimSpace(v.Text) != "" {
		return nil, parley.Errorf(parley.EINVALID, "the %s returned text without word timestamps or segments "+
			"(it must support response_format=verbose_json with timestamp_granularities[]=word)", asrProvider)
	}
	return out, nil
}

func contentType(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".mp3":
		return "audio/mpeg"
	case ".flac":
		return "audio/flac"
	case ".wav":
		return "audio/wav"
	case ".webm":
		return "audio/webm"
	}
	return "application/octet-stream"
}

// fromURL calls the reference GPU service with a presigned URL.
func (a *ASR) fromURL(ctx context.Context, req AudioRequest) ([]fileWord, error) {
	if req.URL == nil {
		return nil, parley.Errorf(parley.EINTERNAL, "no audio URL for the %s backend", a.cfg.Backend)
	}
	u, err := req.URL(ctx)
	if err != nil {
		return nil, fmt.Errorf("presign audio: %w", err)
	}
	lang := req.Language
	if lang == "" {
		lang = "en"
	}
	body, _ := json.Marshal(map[string]any{"audio_file_url": u, "language": lang, "batch": true})
	base := strings.TrimSuffix(a.cfg.TranscriptURL, "/v1")
	ctx, cancel := context.WithTimeout(ctx, a.cfg.TranscriptTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/audio/transcriptions-from-url", bytes.NewReader(body))
	if err != nil {
		return nil, parley.WrapError(parley.EINVALID, err, "transcription request")
	}
	hreq.Header.Set("Content-Type", "application/json")
	if a.cfg.TranscriptAPIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+a.cfg.TranscriptAPIKey)
	}
	resp, err := a.http.Do(hreq)
	if err != nil {
		return nil, classify(asrProvider, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, classify(asrProvider, err)
	}
	if resp.StatusCode >= 300 {
		return nil, statusError(asrProvider, resp.StatusCode, providerMessage(b))
	}
	var r struct {
		Words []struct {
			Word  string  `json:"word"`
			Start float64 `json:"start"`
			End   float64 `json:"end"`
		} `json:"words"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, parley.WrapError(parley.ETRANSIENT, err, "the %s answered something that is not JSON", asrProvider)
	}
	out := make([]fileWord, 0, len(r.Words))
	for _, w := range r.Words {
		out = append(out, fileWord{Text: w.Word, Start: w.Start, End: w.End})
	}
	return out, nil
}
