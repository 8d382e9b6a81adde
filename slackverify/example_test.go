package slackverify_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/chatnotify/chatnotify/slackverify"
)

func Example() {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	now := time.Unix(1531420618, 0)
	body := []byte("payload=%7B%22type%22%3A%22block_actions%22%7D")

	// Slack's side: sign the request.
	header := http.Header{}
	slackverify.Sign(header, body, now, secret)
	fmt.Println(header.Get("X-Slack-Signature"))

	// Our side: verify it, a minute later.
	fmt.Println(slackverify.Verify(header, body, now.Add(time.Minute), secret))
	// The same request ten minutes later is refused as a possible replay.
	fmt.Println(slackverify.Verify(header, body, now.Add(10*time.Minute), secret))
	// Output:
	// v0=9dffc25b49a4a7fc2e15c9c9450bf8af09eb501fcef9039eaea3deb58af0c82c
	// <nil>
	// slackverify: stale timestamp
}

func ExampleVerifier_Middleware() {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	now := time.Unix(1531420618, 0)
	v, err := slackverify.New(secret, &slackverify.Options{
		Now: func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only requests the middleware verified get here; Verified says so
		// through the request context.
		fmt.Fprintf(w, "verified=%t payload=%s", slackverify.Verified(r.Context()), r.FormValue("payload"))
	}))

	send := func(sign bool) {
		body := "payload=%7B%22type%22%3A%22block_actions%22%7D"
		r := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			slackverify.Sign(r.Header, []byte(body), now, secret)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Result().Body)
		fmt.Printf("%d %s\n", w.Code, strings.TrimSpace(string(b)))
	}
	send(true)
	send(false)
	// Output:
	// 200 verified=true payload={"type":"block_actions"}
	// 401 {"error":"Invalid signature"}
}

// New refuses a signing secret anyone could guess.
func ExampleNew() {
	_, err := slackverify.New(" ", nil)
	fmt.Println(err)
	fmt.Println(errors.Is(err, slackverify.ErrNoSecret))
	// Output:
	// slackverify: no signing secret: the signing secret is empty or only whitespace
	// true
}

// Verifying without the middleware: the caller reads the body, bounded,
// and maps the error to a status.
func ExampleVerifier_Verify() {
	const secret = "8f742231b10e8888abcd99yyyzzz85a5"
	now := time.Unix(1531420618, 0)
	v, err := slackverify.New(secret, &slackverify.Options{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	body := []byte("payload=%7B%7D")
	header := http.Header{}
	slackverify.Sign(header, body, now, "another secret")

	err = v.Verify(header, body)
	switch {
	case errors.Is(err, slackverify.ErrBodyTooLarge):
		fmt.Println(http.StatusRequestEntityTooLarge, err)
	case errors.Is(err, slackverify.ErrInvalidSignature):
		fmt.Println(http.StatusUnauthorized, err)
	}
	// Output:
	// 401 slackverify: signature mismatch
}
