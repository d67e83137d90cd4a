// Package daily is the Daily.co client: recordings and meeting participants
// from the REST API, and verification of Daily's signed webhooks.
package daily
