// Package notifytest is a fake Slack and Microsoft Teams, for tests of
// chatnotify and of the hosts that embed it. It uses only the standard
// library.
//
// # The fake
//
// [New] starts a [Server] on a loopback httptest server that speaks the
// platforms' real wire formats:
//
//   - the Slack Web API under [Server.SlackAPIURL]: chat.postMessage and
//     chat.update, form-encoded with the token in the body (token=),
//     answering {"ok":true,"channel":…,"ts":…} or, with HTTP 200,
//     {"ok":false,"error":…};
//   - Slack incoming webhooks at [Server.SlackWebhookURL], answering 200
//     "ok", or an error body such as "no_service" with its documented
//     status;
//   - Slack response_urls at [Server.ResponseURL], applying
//     replace_original, delete_original and ephemeral answers to the
//     message, answering {"ok":true} or {"ok":false,"error":…};
//   - Teams incoming webhooks at [Server.TeamsWebhookURL] (200 with the
//     body "1") and Workflows URLs at [Server.TeamsWorkflowsURL] (202
//     Accepted);
//   - a Teams bot ([Server.TeamsBot]): a Bot Connector at its
//     ServiceURL (POST of a card answering 201 with its activity ID, PUT
//     replacing it; 401 without a valid token) and the Microsoft Entra
//     token endpoint that issues its tokens at its TokenURL (client
//     credentials in the form, errors in Entra's AADSTS shape).
//
// The fake listens on 127.0.0.1 over plain http, so point chatnotify at
// it with notify.SenderOptions.AllowLoopbackURLs (and SlackAPIURL).
//
// # Recording
//
// Every request is recorded and decoded ([Server.Requests]): its method,
// token, channel, text, blocks or cards, [Button]s and all of its text.
// [Server.Messages] shows each channel as a chat client would now: what
// was posted, with every chat.update and response_url replacement
// applied.
//
// # Faults
//
// [Server.FailNext] queues wrong answers ([Fault]) for the next requests,
// of any kind or of one method: [RateLimited] (HTTP 429 with a
// Retry-After in seconds or as an HTTP date), [PlatformError] (a platform
// error code with its usual status), [TeamsThrottled] (the legacy
// connectors' 200 with "HTTP error 429" in the body), a 5xx
// (Fault{Status: 503}) or a hang (Fault{Delay: time.Hour}).
// [Server.SetLatency] slows every normal answer, for benchmarks. For the
// Teams bot, faults of the Methods "token", "sendToConversation" and
// "updateActivity" answer in the Bot Connector's or Entra's error shape
// (Fault{Method: "sendToConversation", Status: 412}, [RateLimited]),
// [Server.RemoveBot] makes a conversation answer 403
// BotNotInConversationRoster, and [Server.SetTokenLifetime] shortens the
// tokens' expires_in, to see them renewed.
package notifytest
