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
