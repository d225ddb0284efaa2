package activities

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Budgets of what one data activity returns. An activity's result travels through
// Temporal as one payload, and Temporal refuses a payload over 2 MB (its blob size limit,
// with a warning from 512 KiB): an activity with a larger result fails only after its
// retries, with an error that says nothing about the data. The activities measure their
// result as encoding/json (Temporal's JSON payload converter) will encode it and refuse a
// larger one at once, naming the size, the limit and what to do instead.
const (
	// MaxResultBytes is the most JSON one data activity returns: parse_file, execute_query,
	// search_table, get_record, declared read statements and the rows a write statement
	// returns. 1.5 MiB stays a quarter below Temporal's 2 MB payload limit, which leaves room
	// for the payload's envelope and for the tool_call workflow returning the same bytes as
	// its own result.
	MaxResultBytes = 3 << 19
	// MaxParseRows is the most CSV rows parse_file returns. Each row is an object in memory
	// and in the answer; 50 000 of them is more than an agent can read, and keeps the
	// worker's memory for one call in the tens of MiB even for rows of one or two bytes.
	MaxParseRows = 50_000
)

// sizeText renders a byte count as "1572864 bytes (1.5 MiB)".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d bytes (%.1f KiB)", n, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// jsonStringLen is the length of s encoded as a JSON string by encoding/json: quoted,
// with '"', '\\' and control characters escaped, '<', '>', '&', U+2028 and U+2029 escaped
// as \uXXXX, and every byte of invalid UTF-8 replaced by \ufffd.
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t' || b == '\b' || b == '\f':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// jsonValueLen is the length of a scanned database value encoded as JSON.
func jsonValueLen(v any) int {
	var buf [24]byte
	switch v := v.(type) {
	case nil:
		return 4
	case string:
		return jsonStringLen(v)
	case []byte:
		return jsonStringLen(string(v))
	case int64:
		return len(strconv.AppendInt(buf[:0], v, 10))
	case int:
		return len(strconv.AppendInt(buf[:0], int64(v), 10))
	case bool:
		if v {
			return 4
		}
		return 5
	}
	b, err := json.Marshal(v)
	if err != nil {
		return len(fmt.Sprint(v)) + 2
	}
	return len(b)
}
