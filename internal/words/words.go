// Package words holds the small text helpers the packages that speak to people share.
package words

import (
	"strconv"
	"strings"
)

// Plural renders a count with its noun: "1 step", "2 steps".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Strings is a list of names of a string type (statuses, actions) as plain strings, for
// enums and the allowed values of an error.
func Strings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// Or lists names for a sentence: "a", "a or b", "a, b or c".
func Or[T ~string](xs []T) string {
	names := Strings(xs)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Sentence makes s one sentence: trimmed, and ended with a full stop unless it already
// ends with one, a question or an exclamation mark.
func Sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "?") || strings.HasSuffix(s, "!") {
		return s
	}
	return s + "."
}

// Sentences joins texts, each made a Sentence, with a space: a text that is joined to
// another ends first, so no two read as one ("…must approve Now: …").
func Sentences(texts ...string) string {
	out := make([]string, 0, len(texts))
	for _, t := range texts {
		if t = Sentence(t); t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
