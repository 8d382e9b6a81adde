package notify

import (
	"time"

	"github.com/chatnotify/chatnotify/approval"
)

// Event is one notification to deliver: an [ApprovalRequested], a
// [DriftAlert], an [AgentStatusChanged] or a [TestMessage]. The set is
// closed (the interface has an unexported method): the senders render
// each kind in the platform's own format.
type Event interface {
	// eventType names the kind of event; channels subscribe by it.
	eventType() EventType
}

// eventTest is the type of a [TestMessage]. It is not subscribable: test
// messages go to the one channel being tested.
const eventTest EventType = "test"

// ApprovalRequested announces a new approval request. On a Slack channel
// with a bot token it carries Approve and Deny buttons; on Teams, signed
// Approve and Deny links.
type ApprovalRequested struct {
	Request approval.Request `json:"request"`
}

func (ApprovalRequested) eventType() EventType { return EventApprovalRequest }

// Severity ranks a drift alert. Values other than the four below are
// shown as they are, in the medium colour.
type Severity string

// Drift severities, least to most urgent.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// DriftAlert reports configuration drift: a resource whose actual state no
// longer matches what was expected.
type DriftAlert struct {
	ID         string    `json:"id,omitempty"`
	Resource   string    `json:"resource"`
	Summary    string    `json:"summary,omitempty"`
	Expected   string    `json:"expected"`
	Actual     string    `json:"actual"`
	Severity   Severity  `json:"severity"`
	DetectedAt time.Time `json:"detected_at"`
	ConsoleURL string    `json:"console_url,omitempty"`
}

func (DriftAlert) eventType() EventType { return EventDriftAlert }

// AgentState is the lifecycle state of an agent. Values other than the
// spec's three below are shown as they are.
type AgentState string

// The agent states of the spec.
const (
	AgentDeployed AgentState = "deployed"
	AgentStopped  AgentState = "stopped"
	AgentErrored  AgentState = "errored"
)

// AgentStatusChanged reports that an agent was deployed, stopped or
// errored.
type AgentStatusChanged struct {
	Agent          string     `json:"agent"`
	Status         AgentState `json:"status"`
	PreviousStatus AgentState `json:"previous_status,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	ChangedAt      time.Time  `json:"changed_at"`
	ConsoleURL     string     `json:"console_url,omitempty"`
}

func (AgentStatusChanged) eventType() EventType { return EventAgentStatus }

// TestMessage is the plain message the settings API's test endpoint
// sends to one channel, and that a host may send with
// [PlatformSender.Send] to check a channel. No channel subscribes to it:
// [Dispatcher.Enqueue] refuses it.
type TestMessage struct {
	Text string `json:"text"`
}

func (TestMessage) eventType() EventType { return eventTest }
