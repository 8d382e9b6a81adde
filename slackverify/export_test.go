package slackverify

// The reasons behind ErrInvalidSignature, so that the tests can check
// which check refused a request.
var (
	ErrMissingHeaders     = errMissingHeaders
	ErrMalformedTimestamp = errMalformedTimestamp
	ErrStaleTimestamp     = errStaleTimestamp
	ErrMalformedSignature = errMalformedSignature
	ErrSignatureMismatch  = errSignatureMismatch
)
