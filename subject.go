package parley

import "context"

type subjectKey struct{}

// NewContextWithSubject returns ctx carrying the id of the transcript the
// work is for (a task's input names it). The result cache records it, so
// that deleting a transcript for good deletes the provider results only
// it used.
func NewContextWithSubject(ctx context.Context, transcriptID string) context.Context {
	return context.WithValue(ctx, subjectKey{}, transcriptID)
}

// SubjectFromContext returns the transcript id ctx carries, or "".
func SubjectFromContext(ctx context.Context) string {
	s, _ := ctx.Value(subjectKey{}).(string)
	return s
}
