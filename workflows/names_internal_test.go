package workflows

import (
	"encoding/json"
	"testing"
)

func TestEscapeJSONTextKeepsTheValue(t *testing.T) {
	raw := json.RawMessage("{\"reason\": \"damaged\u202e in transit\",\r\n \"by\": \"a\u2028b\"}")
	got := escapeJSONText(raw)
	if string(got) != "{\"reason\": \"damaged\\u202e in transit\",\r\n \"by\": \"a\\u2028b\"}" {
		t.Errorf("escapeJSONText = %s", got)
	}
	var before, after map[string]string
	if err := json.Unmarshal(raw, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &after); err != nil || after["reason"] != before["reason"] || after["by"] != before["by"] {
		t.Errorf("escaped %v (%v), want the same values as %v", after, err, before)
	}
	if clean := json.RawMessage(`{"a": "b"}`); &escapeJSONText(clean)[0] != &clean[0] {
		t.Error("clean JSON was copied")
	}
}

func TestActorKeyFoldsCaseSpaceAndWidth(t *testing.T) {
	for _, same := range []string{"Fin-Ann", " fin-ann ", "FIN-ANN", "ｆｉｎ－ａｎｎ", "fin-ann"} {
		if actorKey(same) != actorKey("fin-ann") {
			t.Errorf("actorKey(%q) = %q, want it to match fin-ann", same, actorKey(same))
		}
	}
	for _, other := range []string{"fin-anne", "fin ann", "finann"} {
		if actorKey(other) == actorKey("fin-ann") {
			t.Errorf("actorKey(%q) matches fin-ann", other)
		}
	}
}
