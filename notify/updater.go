package notify

import "github.com/chatnotify/chatnotify/approval"

// EventApprovalDecided is the type of an [ApprovalDecided]. Like
// [EventTest] it is not subscribable: it goes only to the channels that
// received the request.
const EventApprovalDecided EventType = "approval_decided"

// ApprovalDecided carries a request that has left pending (approved,
// denied or expired). [Dispatcher.UpdatePosts] sends it to every channel
// that received the request: a Slack message posted with a bot token is
// rewritten in place, and a Teams channel gets a follow-up result card.
type ApprovalDecided struct {
	Request approval.Request
}

// EventType returns [EventApprovalDecided].
func (ApprovalDecided) EventType() EventType { return EventApprovalDecided }
