// Package botauth authenticates the requests the Microsoft Bot Connector
// sends to a bot's messaging endpoint: Teams clicks on Action.Execute
// buttons, and the activities that tell the bot it was added to or
// removed from a conversation. It is the only chatnotify package that
// brings a JWT library (github.com/golang-jwt/jwt/v5, with
// github.com/MicahParks/jwkset for the keys), so that package approval,
// which serves the endpoint, stays free of third-party modules: approval
// takes a [Validator] through its small BotAuthenticator interface.
//
// # What is checked
//
// Every request carries "Authorization: Bearer <JWT>" (MicrosoftDocs
// bot-docs, rest-api/bot-framework-rest-connector-authentication.md,
// "Connector to Bot"). [Validator.Authenticate] accepts it only when
//
//   - the token is signed RS256 (no other algorithm, "none" included) by
//     a key of the Bot Framework's key set, named by the token's kid;
//   - its issuer is https://api.botframework.com and its audience is the
//     bot's App ID ([Config.AppID]);
//   - it has an expiry, and is neither expired nor not yet valid, with 5
//     minutes of clock skew;
//   - the signing key's endorsements list the activity's channelId
//     ("msteams" for Teams; an empty channelId is refused);
//   - the token's serviceurl claim equals the activity's serviceUrl,
//     byte for byte.
//
// The first three need only the header, and are checked before the
// activity is read: a request without a valid token is refused before
// its body is read. No setting turns a check off.
//
// Any refusal is an error wrapping [ErrUnauthorized]; its text says why
// (log it, never answer it). The endpoint answers 403 and decides
// nothing.
//
// # Keys
//
// The keys come from the OpenID metadata document at [MetadataURL]
// (its jwks_uri), fetched on first use and kept for a day; while a
// refresh fails, the keys already fetched stay in use. A token signed
// with a key that is not in the set (Microsoft rotated its keys) makes
// the set be fetched again at once, but at most once every 5 minutes:
// other unknown keys in that window are refused without any request, so
// made-up key IDs cannot make the bot hammer Microsoft. Only one fetch
// runs at a time; the metadata and the key set are each limited to
// 1 MiB, and one fetch to 10 seconds.
//
// # Wiring
//
// Build one Validator per bot and hand it to the messaging endpoint's
// handler, which the host mounts where its Azure Bot registration's
// messaging endpoint points:
//
//	v, err := botauth.New(botauth.Config{AppID: os.Getenv("TEAMS_APP_ID")})
//	if err != nil {
//		log.Fatal(err)
//	}
//	h, err := approval.NewTeamsBotHandler(svc, &approval.TeamsBotOptions{
//		Authenticator: v,
//		OrgID:         orgForTenant, // tenant ID → the host's organisation
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux.Handle(approval.TeamsBotMessagesPath, h) // POST /v1/webhooks/teams/messages
//
// A handler of the host's own calls Authenticate with the Authorization
// header and a function that reads the (bounded) body and returns the
// activity's channelId and serviceUrl; see the example of
// [Validator.Authenticate].
//
// # Tests
//
// Package botauthtest is a fake login.botframework.com for tests and
// sandboxes: point [Config.MetadataURL] at it and let it mint valid and
// invalid tokens. In production MetadataURL stays at its default.
package botauth
