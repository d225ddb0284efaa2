package activities

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestJSONLengthsMatchEncodingJSON: the budgets measure results as encoding/json (Temporal's
// JSON payload converter) encodes them, escapes included; an estimate below the real size
// would let a result through that Temporal then refuses.
func TestJSONLengthsMatchEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ backslash`, "tab\t nl\n cr\r bs\b ff\f", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "é ü 日本語 🎉", "\u2028\u2029", "\xff\xfe invalid \xc3", strings.Repeat("<", 1000)}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := jsonStringLen(s); got != len(want) {
			t.Errorf("jsonStringLen(%q) = %d, encoding/json writes %d bytes: %s", s, got, len(want), want)
		}
	}
	for _, v := range []any{nil, int64(0), int64(-42), int64(math.MaxInt64), int64(math.MinInt64), 7, true, false,
		3.25, 1e21, 1e-7, -0.0, float64(math.MaxFloat64), []byte("bytes<>"), "text", time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC)} {
		enc := v
		if b, ok := v.([]byte); ok {
			enc = string(b) // scanRows turns []byte into a string
		}
		want, _ := json.Marshal(enc)
		if got := jsonValueLen(v); got != len(want) {
			t.Errorf("jsonValueLen(%#v) = %d, encoding/json writes %d bytes: %s", v, got, len(want), want)
		}
	}
}
