// Package httpjson holds the JSON request and response helpers shared by
// chatnotify's HTTP handlers, so that every handler bounds bodies, rejects
// unknown fields and reports errors the same way.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// DefaultMaxBody is the request body limit used when a handler sets none.
const DefaultMaxBody = 64 << 10

// Error is a request error meant for the client: Status is the HTTP
// status and Message the text of the {"error": "…"} body.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Write writes v as a JSON response with the given status.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	Write(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// Decode reads one JSON object from r's body, at most maxBytes long
// (DefaultMaxBody when maxBytes <= 0), into v. Unknown fields, trailing
// data, a body over the limit and a Content-Type other than
// application/json (when one is given) are errors. The error is always an
// *Error with a client-safe message and a 400, 413 or 415 status. An empty
// body is allowed when allowEmpty is true and leaves v untouched.
func Decode(w http.ResponseWriter, r *http.Request, maxBytes int64, v any, allowEmpty bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBytes)
		}
		return Errorf(http.StatusBadRequest, "could not read request body")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if allowEmpty {
			return nil
		}
		return Errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	if body[0] != '{' { // also rejects null, which would leave v untouched
		return Errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, "%s", describe(err))
	}
	// Decoder.More reports false for a stray '}' or ']', so check that
	// nothing but the object was sent.
	if dec.InputOffset() != int64(len(body)) {
		return Errorf(http.StatusBadRequest, "request body must hold a single JSON object")
	}
	return nil
}

// describe turns a json decoding error into a message that names the
// problem without echoing request data beyond a field name.
func describe(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s", typ.Field, jsonKind(typ.Type))
		}
		return "request body must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.As(err, new(*time.ParseError)) || strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"):
		// time.Time reports its own errors, without the field name.
		return "times must be RFC 3339 strings"
	}
	return "malformed JSON"
}

// jsonKind names the JSON shape that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		if t.String() == "time.Time" {
			return "an RFC 3339 time string"
		}
		return "an object"
	}
	return "a number"
}
