package approval

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/slack-go/slack"
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
			var p struct {
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
