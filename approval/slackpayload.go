package approval

import (
	"bytes"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes the few fields of a Slack interaction payload that the
// handler uses, straight from the form field's bytes. A payload is 1–3 KB
// of JSON, nearly all of it the original message, which the handler never
// looks at: a small strict scanner that skips what it does not need costs
// a fraction of encoding/json's reflection, and far less than decoding
// slack.InteractionCallback. It accepts exactly the JSON that
// encoding/json accepts (checked by FuzzSlackPayload), except that
// object keys must match exactly rather than case-insensitively, and
// nesting is limited to slackMaxDepth.

// slackPayload holds the fields of an interaction payload the handler
// reads, as views into the payload's bytes: they are valid only as long as
// those bytes are, and must be copied (jsonStr.String) to be kept.
type slackPayload struct {
	typ          jsonStr
	userID       jsonStr
	userName     jsonStr
	userUsername jsonStr
	responseURL  jsonStr
	// actions is the number of elements of "actions"; action is the first.
	actions int
	action  slackAction
}

// slackAction is one element of "actions": actionID for block_actions,
// name for legacy interactive_message attachments.
type slackAction struct {
	actionID jsonStr
	name     jsonStr
	value    jsonStr
}

// id returns the action's identifier: action_id, or the legacy name.
func (a slackAction) id() jsonStr {
	if !a.actionID.empty() {
		return a.actionID
	}
	return a.name
}

// jsonStr is a JSON string value as it appears between its quotes.
type jsonStr struct {
	raw []byte
	// escaped reports that raw needs unescapeJSON: it holds a backslash
	// escape or bytes that are not valid UTF-8.
	escaped bool
}

func (j jsonStr) empty() bool { return len(j.raw) == 0 }

// String returns the decoded value in new memory.
func (j jsonStr) String() string {
	if j.escaped {
		return string(unescapeJSON(make([]byte, 0, len(j.raw)), j.raw))
	}
	return string(j.raw)
}

// is reports whether the decoded value equals s, without allocating when
// the value has no escapes.
func (j jsonStr) is(s string) bool {
	if !j.escaped {
		return string(j.raw) == s
	}
	return j.String() == s
}

// slackMaxDepth bounds the nesting of a payload.
const slackMaxDepth = 512

// Errors of parseSlackPayload; their text is safe to show to the caller.
var (
	errJSONSyntax = errors.New("payload is not valid JSON")
	errJSONObject = errors.New("payload is not a JSON object")
	errJSONType   = errors.New("payload has a field of the wrong type")
	errJSONDepth  = errors.New("payload is nested too deeply")
)

// parseSlackPayload decodes b into p. It returns one of the errJSON…
// errors when b is not a single valid JSON object or a field it reads has
// the wrong type. The strings in p are views into b.
func parseSlackPayload(b []byte, p *slackPayload) error {
	s := jsonScanner{b: b}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		if s.skip(0) == nil && s.end() {
			return errJSONObject
		}
		return errJSONSyntax
	}
	err := s.object(0, func(key []byte, depth int) error {
		switch string(key) {
		case "type":
			return s.str(&p.typ)
		case "response_url":
			return s.str(&p.responseURL)
		case "user":
			return s.objectOrNull(depth, func(key []byte, depth int) error {
				switch string(key) {
				case "id":
					return s.str(&p.userID)
				case "name":
					return s.str(&p.userName)
				case "username":
					return s.str(&p.userUsername)
				}
				return s.skip(depth)
			})
		case "actions":
			if s.null() {
				p.actions, p.action = 0, slackAction{}
				return nil
			}
			p.actions, p.action = 0, slackAction{}
			var later slackAction // elements after the first are checked, not kept
			return s.array(depth, func(depth int) error {
				p.actions++
				a := &p.action
				if p.actions > 1 {
					a = &later
				}
				return s.objectOrNull(depth, func(key []byte, depth int) error {
					switch string(key) {
					case "action_id":
						return s.str(&a.actionID)
					case "name":
						return s.str(&a.name)
					case "value":
						return s.str(&a.value)
					}
					return s.skip(depth)
				})
			})
		}
		return s.skip(depth)
	})
	if err != nil {
		return err
	}
	if !s.end() {
		return errJSONSyntax
	}
	return nil
}

// jsonScanner walks JSON text in b from offset i.
type jsonScanner struct {
	b   []byte
	i   int
	tmp []byte // scratch for keys with escapes
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end skips trailing space and reports whether nothing else follows.
func (s *jsonScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// null consumes a null literal if one comes next.
func (s *jsonScanner) null() bool {
	s.ws()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// objectOrNull is object, accepting null as an empty object (as
// encoding/json does for a struct).
func (s *jsonScanner) objectOrNull(depth int, field func(key []byte, depth int) error) error {
	if s.null() {
		return nil
	}
	return s.object(depth, field)
}

// object parses an object, calling field for each key with the scanner
// positioned before the value, which field must consume. Keys are
// unescaped; the slice is valid until the next call.
func (s *jsonScanner) object(depth int, field func(key []byte, depth int) error) error {
	s.ws()
	if s.i >= len(s.b) {
		return errJSONSyntax
	}
	if s.b[s.i] != '{' {
		if s.skip(depth) != nil {
			return errJSONSyntax
		}
		return errJSONType
	}
	if depth++; depth > slackMaxDepth {
		return errJSONDepth
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		raw, escaped, err := s.rawString()
		if err != nil {
			return err
		}
		key := raw
		if escaped {
			s.tmp = unescapeJSON(s.tmp[:0], raw)
			key = s.tmp
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errJSONSyntax
		}
		s.i++
		if err := field(key, depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errJSONSyntax
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// array parses an array, calling elem for each element with the scanner
// positioned before it; elem must consume it.
func (s *jsonScanner) array(depth int, elem func(depth int) error) error {
	s.ws()
	if s.i >= len(s.b) {
		return errJSONSyntax
	}
	if s.b[s.i] != '[' {
		if s.skip(depth) != nil {
			return errJSONSyntax
		}
		return errJSONType
	}
	if depth++; depth > slackMaxDepth {
		return errJSONDepth
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errJSONSyntax
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errJSONSyntax
		}
	}
}

// str decodes a string value into *dst; null leaves *dst unchanged, as
// encoding/json does.
func (s *jsonScanner) str(dst *jsonStr) error {
	s.ws()
	if s.null() {
		return nil
	}
	if s.i >= len(s.b) {
		return errJSONSyntax
	}
	if s.b[s.i] != '"' {
		if s.skip(0) != nil {
			return errJSONSyntax
		}
		return errJSONType
	}
	raw, escaped, err := s.rawString()
	if err != nil {
		return err
	}
	*dst = jsonStr{raw: raw, escaped: escaped}
	return nil
}

// rawString consumes a string and returns its text between the quotes.
// escaped reports that the text needs unescapeJSON: it holds a backslash
// escape or bytes that are not valid UTF-8.
func (s *jsonScanner) rawString() (raw []byte, escaped bool, err error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, errJSONSyntax
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if jsonPlain[c] == 1 {
			s.i++
			continue
		}
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, false, errJSONSyntax
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, errJSONSyntax
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if _, ok := unhex(h); !ok {
						return nil, false, errJSONSyntax
					}
				}
				s.i += 6
			default:
				return nil, false, errJSONSyntax
			}
		case c < 0x20:
			return nil, false, errJSONSyntax
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				escaped = true
			}
			s.i += size
		}
	}
	return nil, false, errJSONSyntax
}

// jsonPlain marks with 1 the bytes that stand for themselves inside a
// JSON string: printable ASCII other than '"' and '\\'.
const jsonPlain = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // '"' is 0x22
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x01\x01" + // '\\' is 0x5c
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// skip consumes one value of any kind, checking its syntax.
func (s *jsonScanner) skip(depth int) error {
	s.ws()
	if s.i >= len(s.b) {
		return errJSONSyntax
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, err := s.rawString()
		return err
	case c == '{':
		return s.object(depth, func(_ []byte, depth int) error { return s.skip(depth) })
	case c == '[':
		return s.array(depth, func(depth int) error { return s.skip(depth) })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return errJSONSyntax
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return errJSONSyntax
	}
	s.i += len(lit)
	return nil
}

// number consumes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	b := s.b
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && '1' <= b[s.i] && b[s.i] <= '9':
		s.digits()
	default:
		return errJSONSyntax
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return errJSONSyntax
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return errJSONSyntax
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// unescapeJSON appends the decoded text of a string's raw contents (whose
// escapes rawString has checked) to dst, as encoding/json decodes it:
// invalid UTF-8 bytes and unpaired surrogates become U+FFFD.
func unescapeJSON(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			switch raw[i+1] {
			case '"', '\\', '/':
				dst = append(dst, raw[i+1])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2 : i+6])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
				continue
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, raw[i:i+size]...)
		}
		i += size
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		v, _ := unhex(c)
		r = r<<4 | rune(v)
	}
	return r
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// formValue appends to dst the unescaped value of the first field named
// key in a application/x-www-form-urlencoded body ('+' is a space, %XX a
// byte) and reports whether the field was present. Fields are separated
// by '&' only, as url.ParseQuery does. It returns an error when the
// field's value holds a malformed %-escape; a field whose key holds one is
// not the field asked for and is skipped.
func formValue(dst, body []byte, key string) ([]byte, bool, error) {
	for len(body) > 0 {
		field := body
		if i := bytes.IndexByte(body, '&'); i >= 0 {
			field, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		k, v := field, []byte(nil)
		if i := bytes.IndexByte(field, '='); i >= 0 {
			k, v = field[:i], field[i+1:]
		}
		if string(k) != key {
			if !needsUnescape(k) {
				continue
			}
			uk, err := formUnescape(nil, k)
			if err != nil || string(uk) != key {
				continue
			}
		}
		out, err := formUnescape(dst, v)
		return out, true, err
	}
	return dst, false, nil
}

func needsUnescape(b []byte) bool {
	for _, c := range b {
		if c == '%' || c == '+' {
			return true
		}
	}
	return false
}

var errFormEscape = errors.New("request body is not a valid form")

// formUnescape appends the query-unescaped form of s to dst.
func formUnescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			if i+2 >= len(s) {
				return dst, errFormEscape
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return dst, errFormEscape
			}
			dst = append(dst, hi<<4|lo)
			i += 2
		case '+':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}
