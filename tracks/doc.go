// Package tracks defines the TrackProcessing child workflow that the
// pipeline spawns once per track: pad_track (put the track on meeting time)
// then transcribe_track (speech to words, speaker = track index).
package tracks
