// Package notify delivers results outside Parley: Zulip stream messages
// (posted once, then updated in place) and signed outbound webhooks.
package notify
