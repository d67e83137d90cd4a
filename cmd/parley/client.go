package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-dev/parley"
)

// apiClient talks to `parley serve` (PARLEY_API_URL, PARLEY_API_TOKEN).
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(cfg Config) *apiClient {
	return &apiClient{base: cfg.APIURL, token: cfg.APIToken, http: &http.Client{Timeout: 0}}
}

// apiError is an error answer of the API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func (c *apiClient) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Parley API at %s (is `parley serve` running? `make up` starts it): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorAnswer(resp, method, path)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// errorAnswer reads an error answer of the API.
func errorAnswer(resp *http.Response, method, path string) error {
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
		return &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return &apiError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: HTTP %d", method, path, resp.StatusCode)}
}

// open sends a GET and returns the successful answer for streaming; the
// caller closes its body.
func (c *apiClient) open(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Parley API at %s (is `parley serve` running? `make up` starts it): %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, errorAnswer(resp, http.MethodGet, path)
	}
	return resp, nil
}

func (c *apiClient) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), "application/json", out)
}

// transcriptDoc is the transcript document as the CLI reads it.
type transcriptDoc struct {
	parley.Transcript
	Topics []parley.Topic `json:"topics"`
	Words  []parley.Word  `json:"words"`
}

func (c *apiClient) transcript(ctx context.Context, id string, include string) (*transcriptDoc, json.RawMessage, error) {
	var raw json.RawMessage
	path := "/v1/transcripts/" + url.PathEscape(id)
	if include != "" {
		path += "?include=" + include
	}
	if err := c.do(ctx, http.MethodGet, path, nil, "", &raw); err != nil {
		return nil, nil, err
	}
	var doc transcriptDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, err
	}
	return &doc, raw, nil
}

func (c *apiClient) steps(ctx context.Context, id string) ([]parley.StepRecord, error) {
	var out struct {
		Steps []parley.StepRecord `json:"steps"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/transcripts/"+url.PathEscape(id)+"/steps", nil, "", &out)
	return out.Steps, err
}

// uploadTrack streams a local file to the transcript.
func (c *apiClient) uploadTrack(ctx context.Context, id, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not an audio file", path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		c.base+"/v1/transcripts/"+url.PathEscape(id)+"/tracks", f)
	if err != nil {
		return err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", contentTypeFor(path))
	req.Header.Set("Content-Disposition", fmt.Sprintf(`attachment; filename=%q`, filepath.Base(path)))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb)
		return fmt.Errorf("upload %s: %s", path, strings.TrimSpace(eb.Error.Message))
	}
	return nil
}

func contentTypeFor(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".webm":
		return "audio/webm"
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".mp3":
		return "audio/mpeg"
	case ".wav":
		return "audio/wav"
	case ".flac":
		return "audio/flac"
	case ".m4a", ".mp4":
		return "audio/mp4"
	}
	return "application/octet-stream"
}

// event is one message of the events WebSocket.
type event struct {
	ID    int64           `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// follow streams a transcript's events to fn until fn returns done or an
// error, reconnecting (resuming after the last event) when the connection
// drops.
func (c *apiClient) follow(ctx context.Context, id string, fn func(event) (done bool, err error)) error {
	var after int64
	backoff := 500 * time.Millisecond
	for {
		u := strings.Replace(c.base, "http", "ws", 1) + "/v1/transcripts/" + url.PathEscape(id) + fmt.Sprintf("/events?after=%d", after)
		opts := &websocket.DialOptions{}
		if c.token != "" {
			opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + c.token}}
		}
		conn, resp, err := websocket.Dial(ctx, u, opts)
		if err == nil {
			conn.SetReadLimit(64 << 20)
			backoff = 500 * time.Millisecond
			for {
				var b []byte
				_, b, err = conn.Read(ctx)
				if err != nil {
					break
				}
				var ev event
				if err = json.Unmarshal(b, &ev); err != nil {
					break
				}
				after = ev.ID
				done, ferr := fn(ev)
				if ferr != nil || done {
					conn.Close(websocket.StatusNormalClosure, "")
					return ferr
				}
			}
			_ = conn.CloseNow()
		} else if resp != nil && resp.StatusCode < 500 && resp.StatusCode != 0 {
			return fmt.Errorf("follow events: HTTP %d", resp.StatusCode)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
