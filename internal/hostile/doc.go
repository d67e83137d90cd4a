// Package hostile holds the hostile-input suite: attacks on a real
// `parley serve` and `parley worker` (local stack, parley-sim at the
// edges) that try to exhaust, crash or steer Parley. Every case must end
// in a clear 4xx or a "failed at <step>: …" naming the input, with both
// processes under 300 MB of resident memory, /readyz answering throughout,
// and nothing foreign deleted. The fast cases run in `make test`; the
// heavy ones (12 parallel 200 MB uploads, 500 slow connections) carry the
// chaos build tag and run in `make chaos`. SECURITY.md lists the limits
// they exercise.
package hostile
