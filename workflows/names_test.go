package workflows_test

import (
	"strings"
	"testing"

	"github.com/flowgate/flowgate/workflows"
)

func TestCheckNameRefusesControlAndInvisibleCharacters(t *testing.T) {
	for _, ok := range []string{"fin-ann", "Ann Smith", "ann@example.com", "group:finance", "عبد الله", "Zoë", "日本"} {
		if err := workflows.CheckName("actor", ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                      "actor is empty",
		"  ":                    "actor is empty",
		"\u202eOFC yb devorppA": "U+202E at byte 0",
		"bob\nApproved by CFO":  "U+000A",
		"bob\x00":               "U+0000",
		"fin\u200bann":          "U+200B",
		"bob\u2066":             "U+2066",
		"bob\u2028":             "U+2028",
		"bob\xff":               "not valid UTF-8",
		"bob\x1b[31m":           "U+001B",
		"bob\u200fbob":          "U+200F",
	} {
		err := workflows.CheckName("actor", bad)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "allowed: ") {
			t.Errorf("CheckName(%q) = %v, want %q", bad, err, want)
		}
	}
}

func TestCleanTextKeepsLinesAndDropsWhatCouldSpoofThem(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                         "plain",
		"two\nlines\tand a tab":         "two\nlines\tand a tab",
		"fine\u202e\r\nApproved by CFO": "fine\nApproved by CFO",
		"a\u2066b\u2069c\u200ed\u200fe": "abcde",
		"nul\x00 esc\x1b[2J del\x7f":    "nul esc[2J del",
		"line\u2028sep\u2029para":       "line\nsep\npara",
		"bad\xffutf8":                   "bad\uFFFDutf8",
		"שלום עולם 👨‍👩‍👧":               "שלום עולם 👨‍👩‍👧",
		"c1\u0085control":               "c1control",
	} {
		if got := workflows.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}
