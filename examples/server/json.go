package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// The example's JSON plumbing: what a host has in its own API already.
// chatnotify's handlers answer their own requests; these few lines serve
// the example's endpoints (api.go, sandbox.go).

// maxBody bounds the example's request bodies.
const maxBody = 64 << 10

// httpError is an error with the status and client-safe message it is
// answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
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

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// decodeJSON reads r's body, which must be one JSON object of at most
// maxBody bytes with no field v lacks, into v. Its errors are
// *httpError: 415 for another Content-Type (none means JSON), 413 for a
// larger body, 400 for anything else, with a message naming the problem
// and never echoing the body.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxBody)
		}
		return errorf(http.StatusBadRequest, "could not read request body")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' { // also refuses null, which would leave v as it is
		return errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "%s", describeJSONError(err))
	}
	if dec.InputOffset() != int64(len(body)) {
		return errorf(http.StatusBadRequest, "request body must hold a single JSON object")
	}
	return nil
}

// describeJSONError turns an encoding/json error into a message for the
// client that names the field, not the value.
func describeJSONError(err error) string {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return "request body must be a JSON object"
		}
		kind := "a number"
		switch te.Type.Kind().String() {
		case "string":
			kind = "a string"
		case "bool":
			kind = "true or false"
		}
		return fmt.Sprintf("field %q must be %s", te.Field, kind)
	}
	if _, ok := errors.AsType[*time.ParseError](err); ok {
		return "times must be RFC 3339 strings"
	}
	switch msg := err.Error(); {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case strings.HasPrefix(msg, "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	case strings.HasPrefix(msg, "Time.UnmarshalJSON"):
		return "times must be RFC 3339 strings"
	}
	return "malformed JSON"
}
