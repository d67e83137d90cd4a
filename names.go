package parley

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameChars bounds a speaker name.
const MaxNameChars = 100

// CleanName checks a speaker name given by a user and returns it trimmed:
// at most MaxNameChars characters, no control characters. "" is allowed
// (it means "back to the default name").
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", Errorf(EINVALID, "name: not valid UTF-8 text")
	case utf8.RuneCountInString(name) > MaxNameChars:
		return "", Errorf(EINVALID, "name: at most %d characters", MaxNameChars)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", Errorf(EINVALID, "name: control characters (line breaks, tabs ...) are not allowed")
	}
	return name, nil
}

// ReplaceName replaces every whole-word occurrence of old in text with
// new: "Bob" is replaced in "Bob's plan" and "(Bob)", not in "Bobby". It
// is how a renamed speaker's name reaches texts the language model wrote
// (summaries, topics, action items).
func ReplaceName(text, old, new string) string {
	if old == "" || old == new || !strings.Contains(text, old) {
		return text
	}
	var b strings.Builder
	last := 0
	for i := 0; i <= len(text); {
		j := strings.Index(text[i:], old)
		if j < 0 {
			break
		}
		j += i
		before, _ := utf8.DecodeLastRuneInString(text[:j])
		after, _ := utf8.DecodeRuneInString(text[j+len(old):])
		if isWordRune(before) || isWordRune(after) {
			_, size := utf8.DecodeRuneInString(text[j:])
			i = j + size // inside a longer word: look further
			continue
		}
		b.WriteString(text[last:j])
		b.WriteString(new)
		last = j + len(old)
		i = last
	}
	b.WriteString(text[last:])
	return b.String()
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}
