package approval

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchPayloadJSON is a block_actions payload shaped like Slack's, as
// ../shared/bench/gen writes it.
const benchPayloadJSON = `{"actions":[{"action_id":"approve_action","action_ts":"1548426417.840180","block_id":"approval_actions","text":{"text":"Approve","type":"plain_text"},"type":"button","value":"apr-1234"}],"api_app_id":"A0CA5","channel":{"id":"C0123456789","name":"security-alerts"},"container":{"channel_id":"C0123456789","is_ephemeral":false,"message_ts":"1548261231.000200","type":"message"},"message":{"blocks":[{"block_id":"summary","text":{"text":"*Approval requested* for agent ` + "`deploy-bot`" + `: delete production bucket logs-archive (risk score 82)","type":"mrkdwn"},"type":"section"},{"block_id":"approval_actions","elements":[{"action_id":"approve_action","style":"primary","text":{"text":"Approve","type":"plain_text"},"type":"button","value":"apr-1234"},{"action_id":"deny_action","style":"danger","text":{"text":"Deny","type":"plain_text"},"type":"button","value":"apr-1234"}],"type":"actions"}],"text":"Approval requested","ts":"1548261231.000200","type":"message"},"response_url":"https://hooks.slack.com/actions/T3MDE/123456/abcdef","team":{"domain":"acme","id":"T3MDE"},"token":"Shh_its_a_seekrit","trigger_id":"12466734323.1395872398","type":"block_actions","user":{"id":"U0CA5","name":"amy.reviewer","team_id":"T3MDE","username":"amy.reviewer"}}`

// BenchmarkSlackParse compares decoding a click's form body: this
// package's scanner, encoding/json into a minimal struct, and slack-go's
// InteractionCallback (as ../shared/bench/baseline does).
func BenchmarkSlackParse(b *testing.B) {
	body := []byte("payload=" + url.QueryEscape(benchPayloadJSON))
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			v, ok, err := formValue(buf[:0], body, "payload")
			if !ok || err != nil {
				b.Fatal(ok, err)
			}
			buf = v
			var p slackPayload
			if err := parseSlackPayload(v, &p); err != nil || !p.action.value.is("apr-1234") {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-minimal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vals, err := url.ParseQuery(string(body))
			if err != nil {
				b.Fatal(err)
			}
			var p minimalPayload
			if err := json.Unmarshal([]byte(vals.Get("payload")), &p); err != nil || p.Actions[0].Value != "apr-1234" {
				b.Fatal(err)
			}
		}
	})
	b.Run("slack-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vals, err := url.ParseQuery(string(body))
			if err != nil {
				b.Fatal(err)
			}
			var cb slack.InteractionCallback
			if err := json.Unmarshal([]byte(vals.Get("payload")), &cb); err != nil || cb.ActionCallback.BlockActions[0].Value != "apr-1234" {
				b.Fatal(err)
			}
		}
	})
}

// minimalPayload is what encoding/json makes of the fields the scanner
// reads; the differential tests hold the scanner to it.
type minimalPayload struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"user"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Name     string `json:"name"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// checkAgainstEncodingJSON parses b with both decoders and reports any
// difference. It skips inputs outside the scanner's documented
// differences: keys matched case-insensitively, duplicate keys (which
// encoding/json merges into reused slice elements) and deep nesting.
func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	var want minimalPayload
	wantErr := json.Unmarshal(b, &want)
	if wantErr == nil && !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
		wantErr = errJSONObject // null: valid JSON, but not a payload
	}
	if foldedKeys(b) || duplicateKeys(b) || bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > slackMaxDepth {
		t.Skip("outside the documented differences")
	}
	var got slackPayload
	gotErr := parseSlackPayload(b, &got)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: scanner error %v, encoding/json error %v", b, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	check := func(field string, g jsonStr, w string) {
		if g.String() != w {
			t.Errorf("%q: %s = %q, encoding/json %q", b, field, g.String(), w)
		}
	}
	check("type", got.typ, want.Type)
	check("user.id", got.userID, want.User.ID)
	check("user.name", got.userName, want.User.Name)
	check("user.username", got.userUsername, want.User.Username)
	check("response_url", got.responseURL, want.ResponseURL)
	if got.actions != len(want.Actions) {
		t.Fatalf("%q: %d actions, encoding/json %d", b, got.actions, len(want.Actions))
	}
	if got.actions > 0 {
		check("actions[0].action_id", got.action.actionID, want.Actions[0].ActionID)
		check("actions[0].name", got.action.name, want.Actions[0].Name)
		check("actions[0].value", got.action.value, want.Actions[0].Value)
	}
}

var payloadKeys = []string{"type", "user", "id", "name", "username", "response_url", "actions", "action_id", "value"}

// foldedKeys reports whether b holds a key that encoding/json would match
// to one of the payload's fields only case-insensitively (or through
// escapes folding to it).
func foldedKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok {
			for _, k := range payloadKeys {
				if s != k && strings.EqualFold(s, k) {
					return true
				}
			}
			// encoding/json also folds the Kelvin sign and long s.
			if strings.ContainsAny(s, "\u212a\u017f") {
				return true
			}
		}
	}
}

// duplicateKeys reports whether some object in b repeats a key.
func duplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: v == '{', key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

func TestParseSlackPayloadAgainstEncodingJSON(t *testing.T) {
	for _, in := range slackPayloadSeeds {
		t.Run(in, func(t *testing.T) { checkAgainstEncodingJSON(t, []byte(in)) })
	}
}

var slackPayloadSeeds = []string{
	benchPayloadJSON,
	`{}`, `null`, `[]`, `"x"`, `1`, ``, ` `, `{`, `}`, `{"type":}`, `{"type":"a",}`, `{"type":"a"}x`,
	`{"type":"block_actions","actions":[{"action_id":"approve_action","value":"apr-1"}],"user":{"id":"U1"}}`,
	`{"type":"interactive_message","actions":[{"name":"deny_action","value":"v","type":"button"}],"user":{"id":"U1","name":"n"}}`,
	`{"type":"block_actions","actions":[{"action_id":"a","value":"1"},{"action_id":"b","value":"2"}]}`,
	`{"type":"block_actions","actions":null,"user":null,"response_url":null}`,
	`{"type":"block_actions","actions":[null,{"value":"x"}]}`,
	`{"type":"bl\u006fck_actions","user":{"name":"\u00e9\ud83c\udf89 \"q\" \\ \/ \b\f\n\r\t"}}`,
	`{"type":"a","user":{"name":"\ud800 lone \udc00 low \ud800\u0041"}}`,
	`{"type":"a","user":{"name":"bad utf8 \xff\xfe and \xc3"}}`,
	"{\"type\":\"a\",\"user\":{\"name\":\"raw \xff\xfe \xed\xa0\x80\"}}",
	"{\"type\":\"a\",\"user\":{\"name\":\"ctrl \x01\"}}",
	`{"type":"a","x":[1,-0,0.5,1e10,-1.5E-3,true,false,null,{"a":[{}]}],"y":{"z":"w"}}`,
	`{"type":"a","x":01}`, `{"type":"a","x":1.}`, `{"type":"a","x":-}`, `{"type":"a","x":.5}`, `{"type":"a","x":1e}`,
	`{"type":"a","x":tru}`, `{"type":"a","x":nul}`, `{"type":"a","x":"\x"}`, `{"type":"a","x":"\u12"}`, `{"type":"a","x":"\u12g4"}`,
	`{"type":7}`, `{"type":"a","user":"U1"}`, `{"type":"a","user":[]}`, `{"type":"a","actions":{}}`, `{"type":"a","actions":[1]}`,
	`{"type":"a","actions":[{"value":7}]}`, `{"type":"a","actions":[{}, 7]}`, `{"type":"a","response_url":true}`,
	` {"type" : "a" , "user" : { "id" : "U" } } `, "\t{\"type\":\"a\"}\n",
	`{"type":"a","user":{"id":"U","id":"V"}}`, `{"Type":"a"}`,
}

func FuzzSlackPayload(f *testing.F) {
	for _, s := range slackPayloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkAgainstEncodingJSON(t, b)
	})
}

func TestParseSlackPayloadDepthLimit(t *testing.T) {
	deep := `{"type":"a","x":` + strings.Repeat("[", slackMaxDepth+1) + strings.Repeat("]", slackMaxDepth+1) + `}`
	var p slackPayload
	assert.ErrorIs(t, parseSlackPayload([]byte(deep), &p), errJSONDepth)
	ok := `{"type":"a","x":` + strings.Repeat("[", slackMaxDepth-2) + strings.Repeat("]", slackMaxDepth-2) + `}`
	assert.NoError(t, parseSlackPayload([]byte(ok), &p))
}

func TestParseSlackPayloadErrors(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{`not json`, errJSONSyntax},
		{`{"type":"a"`, errJSONSyntax},
		{`["type"]`, errJSONObject},
		{`"block_actions"`, errJSONObject},
		{`{"type":["a"]}`, errJSONType},
		{`{"actions":"a"}`, errJSONType},
		{`{"user":1}`, errJSONType},
		{`{"type":["a"}`, errJSONSyntax},
	}
	for _, tt := range tests {
		var p slackPayload
		assert.ErrorIs(t, parseSlackPayload([]byte(tt.in), &p), tt.err, tt.in)
	}
}

func TestJSONPlainTable(t *testing.T) {
	require.Len(t, jsonPlain, 256)
	for c := range 256 {
		want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		assert.Equal(t, want, jsonPlain[c] == 1, "byte %#x", c)
	}
}

func checkFormAgainstParseQuery(t *testing.T, body string) {
	t.Helper()
	vals, wantErr := url.ParseQuery(body)
	got, found, gotErr := formValue(nil, []byte(body), "payload")
	if wantErr != nil {
		// url.ParseQuery also refuses a malformed escape in any field and
		// a ';'; the scanner only reads the payload field. It must still
		// refuse a malformed escape there.
		if gotErr == nil && found {
			if _, err := url.QueryUnescape(payloadRaw(body)); err != nil {
				t.Fatalf("%q: accepted a malformed payload escape", body)
			}
		}
		return
	}
	want, wantFound := vals["payload"]
	if gotErr != nil || found != wantFound {
		t.Fatalf("%q: found=%v err=%v, url.ParseQuery found=%v", body, found, gotErr, wantFound)
	}
	if found && string(got) != want[0] {
		t.Fatalf("%q: %q, url.ParseQuery %q", body, got, want[0])
	}
}

// payloadRaw returns the raw value of the first field whose unescaped key
// is payload.
func payloadRaw(body string) string {
	for f := range strings.SplitSeq(body, "&") {
		k, v, _ := strings.Cut(f, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == "payload" {
			return v
		}
	}
	return ""
}

var formSeeds = []string{
	"", "payload=", "payload", "payload=%7B%7D", "a=1&payload=x+y%20z&payload=second", "pay%6Coad=1",
	"payload=%zz", "payload=%4", "payload=%", "x=%zz&payload=1", "payload=a;b", "a=1;payload=2", "&&payload=ok&",
	"payload=%E2%9C%85", "payload=" + url.QueryEscape(benchPayloadJSON), "pay+load=1", "payload+=1",
}

func TestFormValueAgainstParseQuery(t *testing.T) {
	for _, in := range formSeeds {
		t.Run(in, func(t *testing.T) { checkFormAgainstParseQuery(t, in) })
	}
}

func FuzzFormValue(f *testing.F) {
	for _, s := range formSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkFormAgainstParseQuery(t, body)
	})
}

func TestFormUnescapeErrors(t *testing.T) {
	for _, in := range []string{"%", "%4", "%zz", "%4g", "a%"} {
		_, err := formUnescape(nil, []byte(in))
		assert.True(t, errors.Is(err, errFormEscape), in)
	}
	got, err := formUnescape(nil, []byte("a+b%2Bc%e9"))
	require.NoError(t, err)
	assert.Equal(t, "a b+c\xe9", string(got))
}
