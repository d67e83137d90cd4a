package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-dev/parley"
)

// wsMessage is one event on the WebSocket: the contract's envelope
// {"event","data"} plus "id", the event's sequence number (reconnect with
// ?after=<id> to resume without gaps or duplicates).
type wsMessage struct {
	ID    int64           `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// events streams a transcript's events: every stored event after ?after=N
// (default: all) in order, then live ones as they are stored.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	t, err := s.transcript(r)
	if err != nil {
		return err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return parley.Errorf(parley.EINVALID, "after: must be an event id (a non-negative number)")
		}
	}
	if s.hub == nil {
		return parley.Errorf(parley.EINTERNAL, "event hub not running")
	}
	opts := &websocket.AcceptOptions{}
	for _, p := range wsProtocols(r) {
		if p == "bearer" {
			opts.Subprotocols = []string{"bearer"}
		}
	}
	// The stream outlives the server's ReadTimeout: the connection's read
	// deadline is lifted (a dead client is dropped by WSWriteTimeout).
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		return nil // Accept has answered the request
	}
	defer func() { _ = conn.CloseNow() }()
	// Subscribe before reading the backlog so that nothing stored in
	// between is missed.
	wakeup, cancel := s.hub.Subscribe(t.ID)
	defer cancel()
	ctx := conn.CloseRead(r.Context())
	if err := s.streamEvents(ctx, conn, t.ID, after, wakeup); err != nil && !errors.Is(err, context.Canceled) {
		s.log.DebugContext(ctx, "websocket closed", "transcript_id", t.ID, "error", err)
	}
	return nil
}

func (s *Server) streamEvents(ctx context.Context, conn *websocket.Conn, tid string, after int64, wakeup <-chan struct{}) error {
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		for {
			evs, err := s.db.ListEvents(ctx, tid, after, 500)
			if err != nil {
				conn.Close(websocket.StatusInternalError, "could not read events")
				return err
			}
			for _, ev := range evs {
				b, err := json.Marshal(wsMessage{ID: ev.Seq, Event: ev.Name, Data: ev.Data})
				if err != nil {
					return err
				}
				wctx, cancel := context.WithTimeout(ctx, s.cfg.WSWriteTimeout)
				err = conn.Write(wctx, websocket.MessageText, b)
				cancel()
				if err != nil {
					// Too slow or gone: drop it; it resumes with ?after=.
					conn.Close(websocket.StatusPolicyViolation, "client too slow")
					return err
				}
				after = ev.Seq
			}
			if len(evs) < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wakeup:
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, s.cfg.WSWriteTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		}
	}
}
