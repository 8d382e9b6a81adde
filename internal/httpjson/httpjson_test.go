package httpjson_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatnotify/chatnotify/internal/httpjson"
)

type inner struct {
	Token string `json:"token"`
}

type target struct {
	Name    string    `json:"name"`
	Count   int       `json:"count"`
	On      bool      `json:"on"`
	Tags    []string  `json:"tags"`
	Inner   inner     `json:"inner"`
	At      time.Time `json:"at"`
	Pointer *bool     `json:"pointer"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		maxBytes    int64
		allowEmpty  bool
		wantStatus  int // 0: no error
		wantMessage string
	}{
		{name: "valid", contentType: "application/json", body: `{"name":"a","count":2}`},
		{name: "valid with charset", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`},
		{name: "no content type", body: `{"name":"a"}`},
		{name: "surrounding whitespace", body: " \n{\"name\":\"a\"}\n\t "},
		{name: "empty allowed", body: "", allowEmpty: true},
		{name: "blank allowed", body: " \n ", allowEmpty: true},

		{name: "text/plain", contentType: "text/plain", body: `{"name":"a"}`, wantStatus: 415, wantMessage: "Content-Type must be application/json"},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: `name=a`, wantStatus: 415, wantMessage: "Content-Type must be application/json"},
		{name: "unparsable content type", contentType: "application/json; =", body: `{}`, wantStatus: 415, wantMessage: "Content-Type must be application/json"},
		{name: "415 even when empty is allowed", contentType: "text/plain", body: "", allowEmpty: true, wantStatus: 415, wantMessage: "Content-Type must be application/json"},

		{name: "over the limit", body: `{"name":"` + strings.Repeat("a", 100) + `"}`, maxBytes: 64, wantStatus: 413, wantMessage: "request body is larger than 64 bytes"},
		{name: "over the default limit", body: `{"name":"` + strings.Repeat("a", httpjson.DefaultMaxBody) + `"}`, wantStatus: 413, wantMessage: "request body is larger than 65536 bytes"},
		{name: "exactly the limit", body: `{"name":"abc"}`, maxBytes: int64(len(`{"name":"abc"}`))},

		{name: "empty not allowed", body: "", wantStatus: 400, wantMessage: "request body must be a JSON object"},
		{name: "null", body: "null", wantStatus: 400, wantMessage: "request body must be a JSON object"},
		{name: "array", body: `[{"name":"a"}]`, wantStatus: 400, wantMessage: "request body must be a JSON object"},
		{name: "string", body: `"a"`, wantStatus: 400, wantMessage: "request body must be a JSON object"},
		{name: "syntax error", body: `{"name":}`, wantStatus: 400, wantMessage: "malformed JSON at byte 9"},
		{name: "truncated", body: `{"name":"a"`, wantStatus: 400, wantMessage: "malformed JSON: unexpected end of input"},
		{name: "unknown field", body: `{"name":"a","org_id":"other"}`, wantStatus: 400, wantMessage: `unknown field "org_id"`},
		{name: "unknown nested field", body: `{"inner":{"token":"t","extra":1}}`, wantStatus: 400, wantMessage: `unknown field "extra"`},
		{name: "second object", body: `{"name":"a"} {"name":"b"}`, wantStatus: 400, wantMessage: "request body must hold a single JSON object"},
		{name: "trailing garbage", body: `{"name":"a"}x`, wantStatus: 400, wantMessage: "request body must hold a single JSON object"},
		{name: "trailing brace", body: `{"name":"a"}}`, wantStatus: 400, wantMessage: "request body must hold a single JSON object"},
		{name: "trailing bracket", body: `{"name":"a"}]`, wantStatus: 400, wantMessage: "request body must hold a single JSON object"},

		{name: "string for number", body: `{"count":"2"}`, wantStatus: 400, wantMessage: `field "count" must be a number`},
		{name: "number for string", body: `{"name":2}`, wantStatus: 400, wantMessage: `field "name" must be a string`},
		{name: "string for bool", body: `{"on":"yes"}`, wantStatus: 400, wantMessage: `field "on" must be true or false`},
		{name: "string for pointer bool", body: `{"pointer":"yes"}`, wantStatus: 400, wantMessage: `field "pointer" must be true or false`},
		{name: "string for array", body: `{"tags":"a"}`, wantStatus: 400, wantMessage: `field "tags" must be an array`},
		{name: "array for object", body: `{"inner":[]}`, wantStatus: 400, wantMessage: `field "inner" must be an object`},
		{name: "number for nested string", body: `{"inner":{"token":1}}`, wantStatus: 400, wantMessage: `field "inner.token" must be a string`},
		{name: "number for time", body: `{"at":1}`, wantStatus: 400, wantMessage: "times must be RFC 3339 strings"},
		{name: "bad time string", body: `{"at":"yesterday"}`, wantStatus: 400, wantMessage: "times must be RFC 3339 strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			var v target
			err := httpjson.Decode(httptest.NewRecorder(), r, tt.maxBytes, &v, tt.allowEmpty)
			if tt.wantStatus == 0 {
				require.NoError(t, err)
				return
			}
			herr, ok := errors.AsType[*httpjson.Error](err)
			require.True(t, ok, "want *httpjson.Error, got %v", err)
			assert.Equal(t, tt.wantStatus, herr.Status)
			assert.Equal(t, tt.wantMessage, herr.Message)
			assert.Equal(t, tt.wantMessage, err.Error())
		})
	}
}

func TestDecodeFillsTarget(t *testing.T) {
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(`{"name":"a","count":2,"tags":["x"],"inner":{"token":"t"}}`))
	var v target
	require.NoError(t, httpjson.Decode(httptest.NewRecorder(), r, 0, &v, false))
	assert.Equal(t, target{Name: "a", Count: 2, Tags: []string{"x"}, Inner: inner{Token: "t"}}, v)
}

func TestDecodeEmptyLeavesTargetUntouched(t *testing.T) {
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", http.NoBody)
	v := target{Name: "kept"}
	require.NoError(t, httpjson.Decode(httptest.NewRecorder(), r, 0, &v, true))
	assert.Equal(t, "kept", v.Name)
}

// Messages must name JSON shapes, never Go types or request values.
func TestDecodeMessagesDoNotLeak(t *testing.T) {
	const secret = "xoxb-SECRETSECRET"
	for _, body := range []string{
		`{"count":"` + secret + `"}`,
		`{"name":{"a":"` + secret + `"}}`,
		`{"inner":"` + secret + `"}`,
		`{"at":"` + secret + `"}`,
		`{"tags":[1]}`,
		`["` + secret + `"]`,
		`{"` + secret + `": 1`,
	} {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(body))
		var v target
		err := httpjson.Decode(httptest.NewRecorder(), r, 0, &v, false)
		require.Error(t, err, body)
		msg := err.Error()
		assert.NotContains(t, msg, secret, body)
		for _, goName := range []string{"int", "string ", "bool", "httpjson", "target", "inner", "time.Time", "[]", "json:", "Go value"} {
			if goName == "inner" && strings.Contains(body, `"inner"`) {
				continue // the JSON field name itself is fine
			}
			assert.NotContains(t, msg, goName, "message %q for %s", msg, body)
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	httpjson.Write(rec, http.StatusCreated, map[string]any{"a": 1})
	assert.Equal(t, http.StatusCreated, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "{\"a\":1}\n", rec.Body.String())
}

func TestWriteUnencodable(t *testing.T) {
	rec := httptest.NewRecorder()
	httpjson.Write(rec, http.StatusOK, map[string]any{"f": func() {}})
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	httpjson.WriteError(rec, http.StatusTeapot, `say "hi"`)
	assert.Equal(t, http.StatusTeapot, rec.Code)
	var got map[string]string
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, map[string]string{"error": `say "hi"`}, got)
}

func TestErrorf(t *testing.T) {
	err := httpjson.Errorf(http.StatusConflict, "name %q taken", "x")
	assert.Equal(t, &httpjson.Error{Status: http.StatusConflict, Message: `name "x" taken`}, err)
}

// A body over the limit must not be read past it.
func TestDecodeStopsReadingAtLimit(t *testing.T) {
	body := &countingReader{r: strings.NewReader(`{"name":"` + strings.Repeat("a", 1<<20) + `"}`)}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", body)
	var v target
	err := httpjson.Decode(httptest.NewRecorder(), r, 1024, &v, false)
	require.Error(t, err)
	assert.LessOrEqual(t, body.n, int64(64<<10), "read %d bytes of a 1 MiB body with a 1 KiB limit", body.n)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
