// Package api serves Parley's HTTP API, the WebSocket event stream, the
// Daily.co webhook and the embedded web page.
package api
