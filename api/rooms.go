package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/parley-dev/parley"
	"github.com/parley-dev/parley/store"
)

// roomDoc is a room as the API shows it: the webhook secret is never sent
// back, only whether one is set.
type roomDoc struct {
	*parley.Room
	WebhookSecret    *string `json:"webhook_secret,omitempty"`
	HasWebhookSecret bool    `json:"has_webhook_secret"`
}

func newRoomDoc(r *parley.Room) roomDoc {
	return roomDoc{Room: r, HasWebhookSecret: r.WebhookSecret != ""}
}

type createRoomRequest struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret"`
	ZulipStream   string `json:"zulip_stream"`
	ZulipTopic    string `json:"zulip_topic"`
	ZulipAutoPost bool   `json:"zulip_auto_post"`
	SkipConsent   bool   `json:"skip_consent"`
	// EmailRecipients get every transcript of the room by email.
	EmailRecipients []string `json:"email_recipients"`
}

func validRoomName(n string) error {
	if strings.TrimSpace(n) == "" {
		return parley.Errorf(parley.EINVALID, "name: required")
	}
	if len(n) > 200 {
		return parley.Errorf(parley.EINVALID, "name: at most 200 characters")
	}
	return nil
}

func (s *Server) validWebhookURL(u string) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return parley.Errorf(parley.EINVALID, "webhook_url: %q is not an http(s) URL", u)
	}
	if s.cfg.CheckWebhookURL != nil {
		if err := s.cfg.CheckWebhookURL(u); err != nil {
			return parley.Errorf(parley.EINVALID, "webhook_url: %s: %v (a loopback, private or link-local address; PARLEY_EGRESS_ALLOW can allow it)",
				p.Host, err)
		}
	}
	return nil
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) error {
	var req createRoomRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if err := validRoomName(req.Name); err != nil {
		return err
	}
	if err := s.validWebhookURL(req.WebhookURL); err != nil {
		return err
	}
	if len(req.ID) > 200 {
		return parley.Errorf(parley.EINVALID, "id: at most 200 characters")
	}
	recipients, err := validEmailRecipients(req.EmailRecipients)
	if err != nil {
		return err
	}
	room, err := s.db.CreateRoom(r.Context(), parley.Room{ID: req.ID, Name: req.Name, WebhookURL: req.WebhookURL,
		WebhookSecret: req.WebhookSecret, ZulipStream: req.ZulipStream, ZulipTopic: req.ZulipTopic,
		ZulipAutoPost: req.ZulipAutoPost, SkipConsent: req.SkipConsent, EmailRecipients: recipients})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newRoomDoc(room))
	return nil
}

func (s *Server) listRooms(w http.ResponseWriter, r *http.Request) error {
	rooms, err := s.db.ListRooms(r.Context())
	if err != nil {
		return err
	}
	docs := make([]roomDoc, len(rooms))
	for i, room := range rooms {
		docs[i] = newRoomDoc(room)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": docs})
	return nil
}

func (s *Server) updateRoom(w http.ResponseWriter, r *http.Request) error {
	var req store.RoomUpdate
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Name != nil {
		if err := validRoomName(*req.Name); err != nil {
			return err
		}
	}
	if req.WebhookURL != nil {
		if err := s.validWebhookURL(*req.WebhookURL); err != nil {
			return err
		}
	}
	if req.EmailRecipients != nil {
		list, err := validEmailRecipients(*req.EmailRecipients)
		if err != nil {
			return err
		}
		req.EmailRecipients = &list
	}
	room, err := s.db.UpdateRoom(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newRoomDoc(room))
	return nil
}
