package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/openai/openai-go/v3"

	"github.com/parley-dev/parley"
)

// Provider names in error messages.
const (
	asrProvider = "speech-to-text provider"
	llmProvider = "language model provider"
)

// httpFailure is the status and body of a provider's error answer,
// captured below openai-go: it only understands OpenAI's own error shape
// ({"error":{"message"}}), while Ollama answers {"error":"..."}, vLLM
// {"message"}, FastAPI servers {"detail"}, and proxies HTML.
type httpFailure struct {
	status int
	body   []byte
}

type failureKey struct{}

// withFailureCapture returns a context under which captureFailures records
// an error answer into the returned httpFailure.
func withFailureCapture(ctx context.Context) (context.Context, *httpFailure) {
	f := &httpFailure{}
	return context.WithValue(ctx, failureKey{}, f), f
}

// captureFailures is an openai-go middleware that keeps the status and
// body of an error answer (and puts the body back for openai-go).
func captureFailures(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	resp, err := next(req)
	if err != nil || resp == nil || resp.StatusCode < 400 {
		return resp, err
	}
	if f, ok := req.Context().Value(failureKey{}).(*httpFailure); ok {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		f.status, f.body = resp.StatusCode, b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	return resp, err
}

// classifyCall classifies the error of an openai-go call, preferring the
// captured answer.
func classifyCall(what string, err error, f *httpFailure) error {
	if err == nil {
		return nil
	}
	if f != nil && f.status >= 400 {
		return statusError(what, f.status, providerMessage(f.body))
	}
	return classify(what, err)
}

// classify maps a provider failure to a parley error: 5xx, 429, timeouts
// and network errors are transient (the step's policy retries them);
// 401/403 unauthorized; other 4xx invalid, with the provider's message.
// A cancelled context is returned as is.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var perr *parley.Error
	if errors.As(err, &perr) {
		return err
	}
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return statusError(what, apiErr.StatusCode, apiErr.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return parley.WrapError(parley.ETRANSIENT, err, "the %s did not answer in time", what)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection") {
		return parley.WrapError(parley.ETRANSIENT, err, "the %s is unreachable (network error)", what)
	}
	return parley.WrapError(parley.ETRANSIENT, err, "the %s failed", what)
}

// statusError classifies an HTTP error status.
func statusError(what string, status int, msg string) error {
	msg = strings.TrimSpace(msg)
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if msg == "" {
		msg = "no message"
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return parley.Errorf(parley.EUNAUTHORIZED, "the %s refused the credentials (HTTP %d): %s", what, status, msg)
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return parley.Errorf(parley.ETRANSIENT, "the %s failed (HTTP %d): %s", what, status, msg)
	case status >= 400:
		return parley.Errorf(parley.EINVALID, "the %s rejected the request (HTTP %d): %s", what, status, msg)
	}
	return parley.Errorf(parley.ETRANSIENT, "the %s answered HTTP %d", what, status)
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// providerMessage extracts the human message of an error answer in the
// shapes OpenAI-compatible servers use, else its text.
func providerMessage(body []byte) string {
	var v map[string]any
	if json.Unmarshal(body, &v) == nil {
		for _, k := range []string{"error", "message", "detail", "msg"} {
			if m := messageOf(v[k]); m != "" {
				return m
			}
		}
	}
	s := tagRE.ReplaceAllString(string(body), " ")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

func messageOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case map[string]any:
		for _, k := range []string{"message", "msg", "detail"} {
			if m := messageOf(x[k]); m != "" {
				return m
			}
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
