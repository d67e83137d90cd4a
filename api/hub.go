package api

import (
	"context"
	"log/slog"
	"sync"

	"github.com/parley-dev/parley/store"
)

// Hub fans PostgreSQL notifications about new events out to the WebSocket
// connections of this process. It only wakes subscribers; they read the
// events themselves from the database, in order, after the last one they
// sent. So a slow subscriber never blocks the hub or other subscribers,
// and nothing is lost while a connection is busy or the listener
// reconnects.
type Hub struct {
	db  *store.DB
	log *slog.Logger

	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}
}

type subscription struct {
	wake chan struct{}
}

// NewHub returns a hub reading notifications from db.
func NewHub(db *store.DB, log *slog.Logger) *Hub {
	return &Hub{db: db, log: log, subs: map[string]map[*subscription]struct{}{}}
}

// Run listens until ctx ends. Subscribers are woken whenever the listener
// (re)connects, since notifications may have been missed before.
func (h *Hub) Run(ctx context.Context) error {
	return h.db.Listen(ctx, h.notify, h.wakeAll)
}

func (h *Hub) notify(n store.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[n.TranscriptID] {
		wake(sub)
	}
}

// wakeAll wakes every subscriber (when the listener (re)connects and
// notifications may have been missed).
func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for sub := range subs {
			wake(sub)
		}
	}
}

func wake(sub *subscription) {
	select {
	case sub.wake <- struct{}{}:
	default: // already woken; the subscriber will read everything new
	}
}

// Subscribe registers interest in a transcript's events. The returned
// channel receives a value whenever there may be new events; cancel ends
// the subscription.
func (h *Hub) Subscribe(transcriptID string) (<-chan struct{}, func()) {
	sub := &subscription{wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.subs[transcriptID] == nil {
		h.subs[transcriptID] = map[*subscription]struct{}{}
	}
	h.subs[transcriptID][sub] = struct{}{}
	h.mu.Unlock()
	return sub.wake, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[transcriptID], sub)
		if len(h.subs[transcriptID]) == 0 {
			delete(h.subs, transcriptID)
		}
	}
}

// Subscribers returns the number of live subscriptions (for tests and
// metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.subs {
		n += len(s)
	}
	return n
}
