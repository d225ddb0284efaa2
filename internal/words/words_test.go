package words

import "testing"

func TestPluralAndFirstLine(t *testing.T) {
	if got := Plural(1, "step") + ", " + Plural(0, "step") + ", " + Plural(2, "finding"); got != "1 step, 0 steps, 2 findings" {
		t.Errorf("Plural: %q", got)
	}
	if got := FirstLine("no workflow\nstack trace"); got != "no workflow" {
		t.Errorf("FirstLine: %q", got)
	}
	if got := FirstLine("one line"); got != "one line" {
		t.Errorf("FirstLine of one line: %q", got)
	}
}

func TestStringsListsNamesInOrder(t *testing.T) {
	type status string
	if got := Strings([]status{"pending", "completed"}); len(got) != 2 || got[0] != "pending" || got[1] != "completed" {
		t.Errorf("Strings = %q", got)
	}
}

// TestSentencesNeverGlue: joined texts each end before the next begins, without a
// doubled stop.
func TestSentencesNeverGlue(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"alice must approve", "Now: x is waiting."}, "alice must approve. Now: x is waiting."},
		{[]string{"it ended.", "Nothing changed."}, "it ended. Nothing changed."},
		{[]string{"is it done? ", "no"}, "is it done? no."},
		{[]string{"why\n", "", "ok"}, "why. ok."},
	} {
		if got := Sentences(tc.in...); got != tc.want {
			t.Errorf("Sentences(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
