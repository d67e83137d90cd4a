package api

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/daily"
	"github.com/parley-dev/parley/pipeline"
)

// maxWebhookBody bounds Daily webhook bodies.
const maxWebhookBody = 1 << 20

// dailyWebhook receives Daily's webhooks. Nothing of the body is read
// before the headers pass: a secret is configured, both signature headers
// are present and well formed, the timestamp is within the 5-minute replay
// window, the declared length is within the limit. The body then has
// WebhookBodyTimeout to arrive (a slow sender holds no connection for
// long) and its signature (HMAC over "timestamp.body" with the
// base64-decoded secret) is checked. Daily's {"test":"test"} ping answers 200;
// recording.ready-to-download of type raw-tracks starts the pipeline for
// its cam-audio tracks, once per recording however often it is delivered.
func (s *Server) dailyWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.DailyWebhookSecret == "" {
		return closing(w, parley.Errorf(parley.EUNAUTHORIZED, "Daily webhooks are not accepted: DAILY_WEBHOOK_SECRET is not configured"))
	}
	ts, sig := r.Header.Get("X-Webhook-Timestamp"), r.Header.Get("X-Webhook-Signature")
	if err := daily.CheckWebhookHeaders(ts, sig, s.now(), s.cfg.DailyWebhookTolerance); err != nil {
		return closing(w, err)
	}
	if r.ContentLength > maxWebhookBody {
		return closing(w, withStatus(http.StatusRequestEntityTooLarge,
			parley.Errorf(parley.EINVALID, "request body is larger than %d bytes", maxWebhookBody)))
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.WebhookBodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return closing(w, withStatus(http.StatusRequestTimeout,
				parley.Errorf(parley.EINVALID, "the body did not arrive within %s", s.cfg.WebhookBodyTimeout)))
		}
		return closing(w, err)
	}
	if err := daily.VerifyWebhook(s.cfg.DailyWebhookSecret, r.Header.Get("X-Webhook-Timestamp"), body,
		r.Header.Get("X-Webhook-Signature"), s.now(), s.cfg.DailyWebhookTolerance); err != nil {
		return err
	}
	ev, err := daily.ParseWebhook(body)
	if err != nil {
		return withStatus(http.StatusUnprocessableEntity, err)
	}
	if ev.IsTest {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	}
	if ev.Type != "recording.ready-to-download" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "type": ev.Type})
		return nil
	}
	ready, err := ev.RecordingReady()
	if err != nil {
		return withStatus(http.StatusUnprocessableEntity, err)
	}
	if ready.Type != "raw-tracks" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": "not a raw-tracks recording"})
		return nil
	}
	keys := daily.CamAudioKeys(ready.Tracks)
	if len(keys) == 0 {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": "no cam-audio tracks"})
		return nil
	}
	res, err := s.TriggerRecording(r, ready.RecordingID, ready.RoomName, keys)
	if errors.Is(err, pipeline.ErrRecordingDeleted) {
		// Deleted for good by a user: Daily must not retry, and the
		// recording is not processed again.
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": parley.ErrorMessage(err)})
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "transcript_id": res.TranscriptID, "workflow_run_id": res.WorkflowRunID})
	return nil
}

// closing marks an answer as the connection's last: the rest of a body
// that was not read is not waited for.
func closing(w http.ResponseWriter, err error) error {
	w.Header().Set("Connection", "close")
	return err
}

// TriggerRecording starts (once) the pipeline of a Daily raw-tracks
// recording whose cam-audio keys are in the Daily bucket.
func (s *Server) TriggerRecording(r *http.Request, recordingID, roomName string, keys []string) (pipeline.Result, error) {
	if recordingID == "" {
		return pipeline.Result{}, withStatus(http.StatusUnprocessableEntity, parley.Errorf(parley.EINVALID, "recording_id is missing"))
	}
	tracks := make([]parley.Track, len(keys))
	for i, k := range keys {
		if err := validKey(k); err != nil {
			return pipeline.Result{}, withStatus(http.StatusUnprocessableEntity,
				parley.Errorf(parley.EINVALID, "track %d key: %s", i, parley.ErrorMessage(err)))
		}
		if err := s.processableKey(s.storage.DailyBucket(), k); err != nil {
			return pipeline.Result{}, withStatus(http.StatusUnprocessableEntity,
				parley.Errorf(parley.EINVALID, "track %d key: %s", i, parley.ErrorMessage(err)))
		}
		tracks[i] = parley.Track{Index: i, Bucket: s.storage.DailyBucket(), Key: k}
	}
	roomID, err := s.resolveRoom(r, "", roomName)
	if err != nil {
		return pipeline.Result{}, err
	}
	return s.dispatcher.Trigger(r.Context(), pipeline.TriggerRequest{Tracks: tracks, RecordingID: recordingID, RoomID: roomID})
}
