// Package slackverify verifies that HTTP requests really come from Slack,
// using Slack's v0 request signatures. It depends on the standard library
// only.
//
// # The scheme
//
// Slack signs every request it sends to an app with the app's Signing
// Secret: X-Slack-Request-Timestamp holds the time in Unix seconds and
// X-Slack-Signature holds "v0=" followed by the hex HMAC-SHA256 of
// "v0:<timestamp>:<raw body>". This package recomputes the HMAC over the
// body exactly as received, compares it in constant time, and refuses
// timestamps more than five minutes from the local clock in either
// direction, so that a captured request cannot be replayed later, nor
// one dated in the future stay replayable for longer. Malformed headers
// are refused before any HMAC is computed. See
// https://docs.slack.dev/authentication/verifying-requests-from-slack.
//
// Verification does not deduplicate: the same signed request passes again
// within the window. Actions with side effects must be idempotent (the
// approval routine's status guard is).
//
// # Usage
//
// Build one [Verifier] with [New] and mount [Verifier.Middleware] in front
// of every Slack endpoint (slash commands, interactivity, events). With
// net/http:
//
//	v, err := slackverify.New(os.Getenv("SLACK_SIGNING_SECRET"), &slackverify.Options{Logger: logger})
//	if err != nil {
//		log.Fatal(err) // the secret is empty or only whitespace
//	}
//	mux.Handle("POST /v1/webhooks/slack/interactions", v.Middleware(slackHandler))
//
// With chi, the middleware has the usual shape:
//
//	r.With(v.Middleware).Post("/v1/webhooks/slack/interactions", slackHandler.ServeHTTP)
//	// or, for a group of Slack routes:
//	r.Group(func(r chi.Router) {
//		r.Use(v.Middleware)
//		r.Post("/slack/commands", commands)
//		r.Post("/slack/interactions", interactions)
//	})
//
// A refused request gets 401 {"error":"Invalid signature"} whatever the
// cause, 413 {"error":"Request body too large"}, or 400 when the body
// cannot be read; the reason goes to [Options.Logger].
//
// # Verified requests
//
// A verified request reaches the next handler with its body restored as
// an ordinary reader, so r.ParseForm and r.FormValue work, and with a
// request context for which [Verified] reports true. The mark travels in
// the context, not in the body, so middleware mounted between the
// verifier and the handler (a body size limit such as chi's
// middleware.RequestSize, a timeout, a tracer) does not lose it:
//
//	func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
//		if !slackverify.Verified(r.Context()) {
//			http.Error(w, "unverified", http.StatusUnauthorized)
//			return
//		}
//		payload := r.FormValue("payload")
//		…
//	}
//
// Callers without middleware use [Verify] (one-off) or [Verifier.Verify]
// (reused, allocation-free) on a body they have read themselves, bounded.
// Both return nil, [ErrBodyTooLarge] (Verifier.Verify only), or an error
// wrapping [ErrInvalidSignature] whose text names the reason. [Sign] signs
// a request as Slack would, for tests and for tools that forward Slack
// requests.
//
// # Secret rotation
//
// After a new signing secret is generated, Slack keeps the previous one
// valid for 24 hours. Pass it in [Options.PreviousSecrets] (or as an
// extra argument to [Verify]) for that period: a request signed with any
// of the secrets is accepted. A secret that is empty or only whitespace
// is refused by [New] (an error wrapping [ErrNoSecret]): such a key is
// public knowledge.
package slackverify
