package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client drives a running simulator through its control API (tests,
// demos, benchmarks, other processes). Every method returns an error
// naming the control route when the simulator cannot be reached or
// refuses the request.
type Client struct {
	// Base is the simulator's base URL, e.g. http://127.0.0.1:9999.
	Base string
	// HTTP sends the requests. Default http.DefaultClient.
	HTTP *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("sim %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		msg := strings.TrimSpace(string(b))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("sim %s %s: HTTP %d: %s", method, path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// SetFaults replaces the faults of the named endpoints (an empty Fault
// heals one).
func (c *Client) SetFaults(ctx context.Context, faults map[string]Fault) error {
	return c.do(ctx, http.MethodPut, "/_sim/faults", faults, nil)
}

// Faults returns the current faults of the endpoints that have any.
func (c *Client) Faults(ctx context.Context) (map[string]Fault, error) {
	out := map[string]Fault{}
	err := c.do(ctx, http.MethodGet, "/_sim/faults", nil, &out)
	return out, err
}

// ClearFaults makes every endpoint healthy.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/_sim/faults", nil, nil)
}

// Requests returns the logged requests of an endpoint ("" = all).
func (c *Client) Requests(ctx context.Context, endpoint string) ([]Request, error) {
	var out []Request
	err := c.do(ctx, http.MethodGet, "/_sim/requests?endpoint="+url.QueryEscape(endpoint), nil, &out)
	return out, err
}

// ClearRequests empties the request log.
func (c *Client) ClearRequests(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/_sim/requests", nil, nil)
}

// AddRecording registers a Daily recording and its participants.
func (c *Client) AddRecording(ctx context.Context, rec DailyRecording) error {
	return c.do(ctx, http.MethodPost, "/_sim/daily/recordings", rec, nil)
}

// DailyRecordings returns the registered recordings, newest first.
func (c *Client) DailyRecordings(ctx context.Context) ([]DailyRecording, error) {
	var out []DailyRecording
	err := c.do(ctx, http.MethodGet, "/_sim/daily/recordings", nil, &out)
	return out, err
}

// ZulipMessages returns the messages posted to the simulated Zulip.
func (c *Client) ZulipMessages(ctx context.Context) ([]ZulipMessage, error) {
	var out []ZulipMessage
	err := c.do(ctx, http.MethodGet, "/_sim/zulip/messages", nil, &out)
	return out, err
}

// SMTPMessages returns the messages the SMTP sink received.
func (c *Client) SMTPMessages(ctx context.Context) ([]SMTPMessage, error) {
	var out []SMTPMessage
	err := c.do(ctx, http.MethodGet, "/_sim/smtp/messages", nil, &out)
	return out, err
}
