// Package notify delivers results outside Parley: Zulip stream messages
// (posted once, then updated in place), signed outbound webhooks and email
// (SMTP with mandatory STARTTLS), all through the egress policy.
package notify
