// Package media does Parley's audio work in process with FFmpeg through
// go-astiav: probing a track's start offset and gaps, padding a track onto
// meeting time, mixing all tracks into one MP3 and computing its waveform.
// Inputs and outputs stream; nothing holds a whole track in memory.
package media
