package daily

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// TrackKeyInfo is what a raw track's file name says.
type TrackKeyInfo struct {
	// ParticipantID is Daily's per-session participant id (as written in
	// the name; it matches Participant.ParticipantID).
	ParticipantID string
	// Kind is the track kind: "cam-audio", "screen-audio", "cam-video"...
	Kind string
	// StartMS is the track's start, unix milliseconds (the file name's
	// last number). The pipeline takes offsets from the container, not
	// from this (reference 2.1).
	StartMS int64
}

// trackKeyRE matches a raw track's base name:
// {13+ digits}-{36-char uuid}-{kind}-{13+ digits}, optionally with an
// extension.
var trackKeyRE = regexp.MustCompile(`^(\d{13,})-([0-9a-fA-F-]{36})-([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z][A-Za-z0-9]*)*)-(\d{13,})(?:\.[A-Za-z0-9]+)?$`)

// ParseTrackKey reads a raw track key's base name, of the form
// {13+ digits}-{uuid}-cam-audio-{13+ digits} (any folder prefix, an
// optional extension). ok is false for any other name (an upload).
func ParseTrackKey(key string) (info TrackKeyInfo, ok bool) {
	m := trackKeyRE.FindStringSubmatch(path.Base(key))
	if m == nil {
		return TrackKeyInfo{}, false
	}
	start, err := strconv.ParseInt(m[4], 10, 64)
	if err != nil { // more digits than an int64 holds
		return TrackKeyInfo{}, false
	}
	return TrackKeyInfo{ParticipantID: m[2], Kind: m[3], StartMS: start}, true
}

// ParticipantID returns the participant id in a track key, or "" when the
// key is not a Daily raw track's.
func ParticipantID(key string) string {
	info, _ := ParseTrackKey(key)
	return info.ParticipantID
}

// CamAudioKeys returns the keys of the audio tracks that are microphone
// audio (type "audio" and "cam-audio" in the key, so no screen-audio and
// no video), in the given order: a key's position is its speaker number.
func CamAudioKeys(tracks []Track) []string {
	var out []string
	for _, t := range tracks {
		if t.Type == "audio" && strings.Contains(t.S3Key, "cam-audio") {
			out = append(out, t.S3Key)
		}
	}
	return out
}

// RoomName strips Daily's "-YYYYMMDDHHMMSS" suffix from a recording's room
// name, giving the room's own name; other names are returned as they are.
func RoomName(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 && len(name)-i-1 == 14 {
		if _, err := strconv.ParseUint(name[i+1:], 10, 64); err == nil {
			return name[:i]
		}
	}
	return name
}
