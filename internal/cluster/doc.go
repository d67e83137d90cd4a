// Package cluster tests Parley on the scale-out Hatchet deployment
// (PARLEY_HATCHET=cluster scripts/stack.sh): hatchet-api and two
// hatchet-engine replicas on RabbitMQ, three workers of which one is in the
// CPU pool. Its tests carry the chaos build tag (make chaos): they start
// that deployment themselves, from nothing, on free ports and a database
// of their own, and remove it at the end.
package cluster
