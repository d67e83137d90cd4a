package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/parley-dev/parley"
)

// statusOf maps error codes to HTTP statuses, in one place.
func statusOf(code string) int {
	switch code {
	case parley.EINVALID:
		return http.StatusBadRequest
	case parley.ENOTFOUND:
		return http.StatusNotFound
	case parley.ECONFLICT:
		return http.StatusConflict
	case parley.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case parley.ETRANSIENT:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError answers with {"error":{"code","message"}}. Internal errors
// are logged with their cause and shown as "Internal error." only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := parley.ErrorCode(err)
	status := statusOf(code)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		code, status = parley.EINVALID, http.StatusRequestEntityTooLarge
		err = parley.Errorf(parley.EINVALID, "request body is larger than %d bytes", tooLarge.Limit)
	}
	var he *httpError
	if errors.As(err, &he) {
		status = he.status
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("error", err))
	}
	var body errorBody
	body.Error.Code = code
	body.Error.Message = parley.ErrorMessage(err)
	writeJSON(w, status, body)
}

// httpError forces a specific status for an error (415, 413, 405 ...).
type httpError struct {
	status int
	err    error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func withStatus(status int, err error) error { return &httpError{status: status, err: err} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

// decodeJSON decodes a JSON body strictly: unknown fields, wrong types,
// trailing data and oversize bodies are invalid, with the field named.
// An empty body is accepted only when optional.
//
// The Content-Type must be application/json, even for an empty body: a
// page on another site can send text/plain or a form without asking, but
// not application/json (a CORS preflight, which this server never
// grants), so no JSON route can be triggered cross-site.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		if ct == "" {
			return withStatus(http.StatusUnsupportedMediaType,
				parley.Errorf(parley.EINVALID, "Content-Type must be application/json (the request has none)"))
		}
		return withStatus(http.StatusUnsupportedMediaType,
			parley.Errorf(parley.EINVALID, "Content-Type must be application/json, not %q", ct))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			if optional {
				return nil
			}
			return parley.Errorf(parley.EINVALID, "request body is empty: a JSON object is expected")
		}
		return jsonError(err)
	}
	if dec.More() {
		return parley.Errorf(parley.EINVALID, "request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &netErr) && netErr.Timeout():
		return withStatus(http.StatusRequestTimeout,
			parley.Errorf(parley.EINVALID, "the request body did not arrive in time (PARLEY_HTTP_READ_TIMEOUT)"))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return parley.Errorf(parley.EINVALID, "request body must be a JSON object, not %s", typeErr.Value)
		}
		return parley.Errorf(parley.EINVALID, "field %q: expected %s, got %s", field, typeName(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return parley.Errorf(parley.EINVALID, "invalid JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return parley.Errorf(parley.EINVALID, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return parley.Errorf(parley.EINVALID, "invalid JSON: the body ends too early")
	}
	return parley.Errorf(parley.EINVALID, "invalid JSON: %v", err)
}

func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case t == "string", t == "*string":
		return "a string"
	case t == "bool", t == "*bool":
		return "true or false"
	case strings.Contains(t, "int"), strings.Contains(t, "float"):
		return "a number"
	}
	return fmt.Sprintf("an object (%s)", t)
}
