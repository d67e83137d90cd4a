package sim

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-dev/parley/media"
)

// TextTag is the container tag from which the simulated ASR takes the
// words to lay over the voiced regions (demo and test tracks carry what
// they say in it).
const TextTag = "PARLEY_SIM_TEXT"

type simWord struct {
	Word  string  `json:"word"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// region is a voiced stretch of audio, in seconds.
type region struct{ start, end float64 }

// voiced finds where the audio has energy: 20 ms frames above a threshold
// (relative to the loudest frame), merged across pauses under 300 ms,
// dropping blips under 80 ms.
func voiced(samples []float32, rate int) []region {
	frame := rate / 50
	var rms []float64
	top := 0.0
	for i := 0; i+frame <= len(samples); i += frame {
		var e float64
		for _, x := range samples[i : i+frame] {
			e += float64(x) * float64(x)
		}
		v := math.Sqrt(e / float64(frame))
		rms = append(rms, v)
		top = math.Max(top, v)
	}
	thr := math.Max(0.01, top*0.1)
	var out []region
	var cur *region
	for i, v := range rms {
		t := float64(i) * 0.02
		if v >= thr {
			if cur != nil && t-cur.end < 0.3 {
				cur.end = t + 0.02
				continue
			}
			if cur != nil {
				out = append(out, *cur)
			}
			cur = &region{t, t + 0.02}
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	keep := out[:0]
	for _, r := range out {
		if r.end-r.start >= 0.08 {
			keep = append(keep, r)
		}
	}
	return keep
}

var pseudo = []string{"alpha", "budget", "plan", "review", "customer", "release", "timeline", "team", "design", "question",
	"update", "risk", "metric", "launch", "feedback", "priority"}

// transcribeFile lays words over the voiced regions of a file.
func transcribeFile(ctx context.Context, path string) ([]simWord, float64, error) {
	const rate = 16000
	var samples []float32
	if err := media.DecodeMono(ctx, path, rate, func(s []float32) error {
		samples = append(samples, s...)
		return nil
	}); err != nil {
		return nil, 0, err
	}
	duration := float64(len(samples)) / rate
	regions := voiced(samples, rate)
	var text []string
	if info, err := media.Probe(ctx, path); err == nil {
		if v := info.Tags[ScriptTag]; v != "" {
			sc, err := ParseScript(v)
			if err != nil {
				return nil, 0, err
			}
			return sc.words(), sc.Minutes * 60, nil
		}
		text = strings.Fields(info.Tags[TextTag])
	}
	// "|" separates utterances (what is said between pauses); it is not a
	// word.
	utterances := utteranceSizes(text)
	text = slicesDelete(text, "|")
	if len(regions) == 0 {
		return []simWord{}, duration, nil
	}
	var total float64
	for _, r := range regions {
		total += r.end - r.start
	}
	// How many words each region gets. When the text's sentences match
	// the clusters of speech (regions less than a second apart), each
	// sentence goes to its cluster; otherwise words are spread in
	// proportion to the regions' lengths; without text, one word per
	// ~0.35 s.
	counts := make([]int, len(regions))
	switch {
	case len(text) > 0 && byUtterance(regions, utterances, counts):
	case len(text) > 0:
		left := len(text)
		for i, r := range regions {
			n := int(math.Round(float64(len(text)) * (r.end - r.start) / total))
			n = max(1, min(n, left-(len(regions)-1-i)))
			if i == len(regions)-1 {
				n = left
			}
			counts[i] = max(n, 0)
			left -= counts[i]
		}
	default:
		for i, r := range regions {
			counts[i] = max(1, int(math.Round((r.end-r.start)/0.35)))
		}
	}
	h := fnv.New32a()
	for _, x := range samples[:min(len(samples), 4000)] {
		fmt.Fprintf(h, "%.3f", x)
	}
	seed := int(h.Sum32())
	var words []simWord
	k := 0
	for i, r := range regions {
		n := counts[i]
		if n == 0 {
			continue
		}
		w := (r.end - r.start) / float64(n)
		for j := 0; j < n; j++ {
			var word string
			if len(text) > 0 {
				word = text[k]
			} else {
				word = pseudo[(seed+k)%len(pseudo)]
			}
			k++
			start := r.start + float64(j)*w
			words = append(words, simWord{Word: word, Start: round3(start), End: round3(start + w*0.85)})
		}
	}
	return words, duration, nil
}

// audioTime is how long the modelled recogniser takes for seconds of
// audio (Fault.AudioSpeed).
func audioTime(r *http.Request, seconds float64) time.Duration {
	speed := modelOf(r).fault.AudioSpeed
	if speed <= 0 {
		return 0
	}
	return time.Duration(seconds / speed * float64(time.Second))
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// transcriptions is OpenAI's POST /v1/audio/transcriptions. Like OpenAI
// it answers 413 over the upload limit, words only when
// timestamp_granularities[] asks for them, and json / text / verbose_json
// by response_format.
func (s *Server) transcriptions(w http.ResponseWriter, r *http.Request, e *Request) {
	if s.maxUpload > 0 && r.ContentLength > s.maxUpload+1<<20 {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, s.maxUpload+2<<20))
		openAIError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Maximum content size limit (%d) exceeded (%d bytes read)",
			s.maxUpload, r.ContentLength), "invalid_request_error")
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		openAIError(w, 400, "expected multipart/form-data: "+err.Error(), "invalid_request_error")
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	e.Fields = map[string]string{}
	for k, v := range r.MultipartForm.Value {
		e.Fields[k] = strings.Join(v, ",")
	}
	fh, ok := r.MultipartForm.File["file"]
	if !ok || len(fh) == 0 {
		openAIError(w, 400, "missing file", "invalid_request_error")
		return
	}
	e.Fields["file"] = fh[0].Filename
	e.Fields["file_size"] = fmt.Sprint(fh[0].Size)
	if r.FormValue("model") == "" {
		openAIError(w, 400, "you must provide a model parameter", "invalid_request_error")
		return
	}
	if s.maxUpload > 0 && fh[0].Size > s.maxUpload {
		openAIError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("Maximum content size limit (%d) exceeded (%d bytes read)",
			s.maxUpload, fh[0].Size), "invalid_request_error")
		return
	}
	format := cmp.Or(r.FormValue("response_format"), "json")
	if format != "json" && format != "text" && format != "verbose_json" {
		openAIError(w, 400, fmt.Sprintf("response_format %q is not supported by parley-sim (json, text, verbose_json)", format),
			"invalid_request_error")
		return
	}
	path, cleanup, err := saveUpload(fh[0].Filename, func() (io.ReadCloser, error) { return fh[0].Open() })
	if err != nil {
		openAIError(w, 500, err.Error(), "server_error")
		return
	}
	defer cleanup()
	if sum, err := fileSHA256(path); err == nil {
		e.Fields["file_sha256"] = sum
	}
	words, dur, err := transcribeFile(r.Context(), path)
	if err != nil {
		openAIError(w, 400, "could not decode the audio: "+err.Error(), "invalid_request_error")
		return
	}
	if !answerAfter(w, r, e, audioTime(r, dur)) {
		return
	}
	texts := make([]string, len(words))
	for i, wd := range words {
		texts[i] = wd.Word
	}
	text := strings.Join(texts, " ")
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
		return
	case "json":
		writeJSON(w, 200, map[string]any{"text": text})
		return
	}
	language := cmp.Or(r.FormValue("language"), "en")
	granularities := r.MultipartForm.Value["timestamp_granularities[]"]
	s.mu.Lock()
	noWords := s.faults[EndpointASR].NoWords
	s.mu.Unlock()
	out := map[string]any{"task": "transcribe", "language": language, "duration": round3(dur), "text": text,
		"segments": []any{}}
	if slices.Contains(granularities, "word") && !noWords {
		out["words"] = words
	}
	if len(granularities) == 0 || slices.Contains(granularities, "segment") || noWords {
		out["segments"] = segmentsOf(words)
	}
	writeJSON(w, 200, out)
}

// segmentsOf groups words into segments at pauses of a second or more.
func segmentsOf(words []simWord) []map[string]any {
	segs := []map[string]any{}
	var cur []simWord
	flush := func() {
		if len(cur) == 0 {
			return
		}
		texts := make([]string, len(cur))
		for i, w := range cur {
			texts[i] = w.Word
		}
		segs = append(segs, map[string]any{"id": len(segs), "start": cur[0].Start, "end": cur[len(cur)-1].End,
			"text": " " + strings.Join(texts, " ")})
		cur = nil
	}
	for _, w := range words {
		if len(cur) > 0 && w.Start-cur[len(cur)-1].End >= 1 {
			flush()
		}
		cur = append(cur, w)
	}
	flush()
	return segs
}

// openAIError answers in OpenAI's error shape.
func openAIError(w http.ResponseWriter, status int, msg, typ string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

// fileSHA256 is the hex SHA-256 of a file (logged for uploads, so that a
// test can tell which bytes reached the recogniser).
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func saveUpload(name string, open func() (io.ReadCloser, error)) (string, func(), error) {
	dir, err := os.MkdirTemp("", "parley-sim-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	src, err := open()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	defer src.Close()
	path := filepath.Join(dir, "audio"+filepath.Ext(name))
	f, err := os.Create(path)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		cleanup()
		return "", nil, err
	}
	return path, cleanup, f.Close()
}

// transcriptionsFromURL is the reference GPU service's endpoint.
func (s *Server) transcriptionsFromURL(w http.ResponseWriter, r *http.Request, e *Request) {
	var in struct {
		AudioFileURL string `json:"audio_file_url"`
		Language     string `json:"language"`
		Batch        bool   `json:"batch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.AudioFileURL == "" {
		writeJSON(w, 422, map[string]any{"detail": "audio_file_url is required"})
		return
	}
	e.Fields = map[string]string{"language": in.Language, "batch": fmt.Sprint(in.Batch), "has_url": "true"}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, in.AudioFileURL, nil)
	if err != nil {
		writeJSON(w, 400, map[string]any{"detail": "bad audio_file_url"})
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		writeJSON(w, 502, map[string]any{"detail": "could not download the audio"})
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		writeJSON(w, 400, map[string]any{"detail": fmt.Sprintf("audio download answered %d", resp.StatusCode)})
		return
	}
	path, cleanup, err := saveUpload("audio.ogg", func() (io.ReadCloser, error) { return io.NopCloser(resp.Body), nil })
	if err != nil {
		writeJSON(w, 500, map[string]any{"detail": err.Error()})
		return
	}
	defer cleanup()
	words, dur, err := transcribeFile(r.Context(), path)
	if err != nil {
		writeJSON(w, 400, map[string]any{"detail": "could not decode the audio"})
		return
	}
	if !answerAfter(w, r, e, audioTime(r, dur)) {
		return
	}
	// The reference service keeps a leading space on each word.
	texts := make([]string, len(words))
	for i := range words {
		texts[i] = words[i].Word
		words[i].Word = " " + words[i].Word
	}
	writeJSON(w, 200, map[string]any{"text": strings.Join(texts, " "), "words": words})
}

// utteranceSizes counts the words of each utterance: "|"-separated when
// the text has separators, else sentence by sentence.
func utteranceSizes(text []string) []int {
	var sizes []int
	n := 0
	sep := slices.Contains(text, "|")
	for _, w := range text {
		if w == "|" {
			if n > 0 {
				sizes = append(sizes, n)
			}
			n = 0
			continue
		}
		n++
		if !sep && strings.ContainsAny(w[len(w)-1:], ".?!") {
			sizes = append(sizes, n)
			n = 0
		}
	}
	if n > 0 {
		sizes = append(sizes, n)
	}
	return sizes
}

func slicesDelete(words []string, drop string) []string {
	out := words[:0:0]
	for _, w := range words {
		if w != drop {
			out = append(out, w)
		}
	}
	return out
}

// byUtterance fills counts so that each utterance lands on one cluster of
// regions (regions less than a second apart), spread over the cluster's
// regions by length. It reports false when the numbers of utterances and
// clusters differ.
func byUtterance(regions []region, sentences []int, counts []int) bool {
	var clusters [][]int // region indexes
	for i, r := range regions {
		if i == 0 || r.start-regions[i-1].end >= 1.0 {
			clusters = append(clusters, nil)
		}
		clusters[len(clusters)-1] = append(clusters[len(clusters)-1], i)
	}
	if len(clusters) != len(sentences) {
		return false
	}
	for c, idx := range clusters {
		var dur float64
		for _, i := range idx {
			dur += regions[i].end - regions[i].start
		}
		left := sentences[c]
		for k, i := range idx {
			m := int(math.Round(float64(sentences[c]) * (regions[i].end - regions[i].start) / dur))
			m = min(m, left)
			if k == len(idx)-1 {
				m = left
			}
			counts[i] = m
			left -= m
		}
	}
	return true
}
