// Package tracks holds the steps of the TrackProcessing child workflow that
// the pipeline spawns once per track: PadTrack (put the track on meeting
// time), then TranscribeTrack (speech to words, speaker = track index).
// pipeline.StepTable declares them as tasks.
package tracks
