package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// CheckName refuses a name of a person or group (an actor, an approver, a requester, a
// scope) that cannot be shown safely: empty, not UTF-8, or holding a control character
// (a newline or NUL among them) or an invisible formatting character (a bidirectional
// override such as U+202E, a zero-width space or joiner). Such a name can make a record
// or an email read as something else: "Approved by CFO" spelled backwards with an
// override, or a second line. field names the value in the error.
func CheckName(field, s string) error {
	if problem := nameProblem(s); problem != "" {
		return fmt.Errorf("%s %s; allowed: %s", field, problem, nameAllowed)
	}
	return nil
}

// nameAllowed says what CheckName takes.
const nameAllowed = "a name without control characters, line breaks or invisible formatting characters such as bidirectional overrides"

// nameProblem says what CheckName refuses in s, or "".
func nameProblem(s string) string {
	if strings.TrimSpace(s) == "" {
		return "is empty"
	}
	if !utf8.ValidString(s) {
		return fmt.Sprintf("%q is not valid UTF-8", s)
	}
	for i, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return fmt.Sprintf("%q holds %U at byte %d, a control or invisible formatting character", s, r, i)
		}
	}
	return ""
}

// CleanText makes free text (a comment, a parameter, a rendered template) safe to write
// into a record or a notification: it keeps line breaks (\n) and tabs, turns the Unicode
// line and paragraph separators into \n, drops every other control character (\r, NUL,
// ESC, …) and the bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
// U+061C), and replaces bytes that are not UTF-8 with U+FFFD. Anything else, emoji and
// right-to-left scripts included, is kept.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, unsafeInText) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\u2028' || r == '\u2029':
			return '\n'
		case unsafeInText(r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// unsafeInText reports whether CleanText changes r.
func unsafeInText(r rune) bool {
	return (unicode.Is(unicode.Cc, r) && r != '\n' && r != '\t') || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// escapeJSONText writes every character CleanText would drop or change as a \uXXXX
// escape in JSON text: the same JSON value, shown safely. Such characters can stand raw
// only inside JSON strings, where the escape means the same.
func escapeJSONText(raw json.RawMessage) json.RawMessage {
	if utf8.Valid(raw) && bytes.IndexFunc(raw, unsafeInText) < 0 {
		return raw
	}
	var b bytes.Buffer
	for _, r := range string(raw) {
		if unsafeInText(r) && r != '\r' { // \r, like \n and \t, may be white space between tokens
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.Bytes()
}

// cleanValue applies CleanText to every string of a JSON value (a call's body), keys
// included.
func cleanValue(v any) any {
	switch x := v.(type) {
	case string:
		return CleanText(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[CleanText(k)] = cleanValue(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = cleanValue(val)
		}
		return out
	}
	return v
}

// actorKey is the form in which two actor names are compared on runs that fold them: the
// surrounding white space trimmed, compatibility-normalized (NFKC: a ligature or a
// full-width letter reads as the plain one) and case-folded, so "fin-ann", "Fin-Ann " and
// "ＦＩＮ-ann" are one person. Folding makes more names one person, never fewer: the
// safe direction for a quorum and for separation of duties.
func actorKey(s string) string {
	return cases.Fold().String(norm.NFKC.String(strings.TrimSpace(s)))
}

// sameActor reports whether a and b name one person: exactly, or once folded (actorKey)
// on runs that fold names (runner.strictActors).
func (r *runner) sameActor(a, b string) bool {
	return a == b || (r.StrictActors && actorKey(a) == actorKey(b))
}
