package activities

import (
	"strings"
	"unicode"
)

// forbiddenKeywords may not appear as words in an agent's query, even inside a SELECT:
// they reach other database files, change connection settings, or build values of any
// size in one uninterruptible call (randomblob(1e9) holds a core and a gigabyte for
// seconds, past the query timeout).
var forbiddenKeywords = map[string]bool{
	"ATTACH": true, "DETACH": true, "PRAGMA": true, "VACUUM": true, "LOAD_EXTENSION": true,
	"RANDOMBLOB": true, "ZEROBLOB": true, "PRINTF": true, "FORMAT": true,
	// PostgreSQL: value amplifiers, server files, other databases, session settings.
	"REPEAT": true, "LPAD": true, "RPAD": true, "PG_READ_FILE": true, "PG_READ_BINARY_FILE": true,
	"PG_LS_DIR": true, "PG_STAT_FILE": true, "LO_IMPORT": true, "LO_EXPORT": true, "DBLINK": true,
	"SET_CONFIG": true, "PG_SLEEP": true, "COPY": true,
}

// CheckReadOnlySQL refuses anything but one SELECT (or WITH ... SELECT, or VALUES)
// statement. It is the first of two guards: the read-only connection and transaction
// the query runs in are the second, enforced by SQLite itself.
func CheckReadOnlySQL(q string) error {
	words, statements, err := scanSQL(q)
	if err != nil {
		return err
	}
	if statements > 1 {
		return invalidInput("query", "holds %d statements; give exactly one SELECT statement", statements)
	}
	if len(words) == 0 {
		return invalidInput("query", "holds no statement; give one SELECT statement")
	}
	switch words[0] {
	case "SELECT", "WITH", "VALUES":
	default:
		return invalidInput("query", "starts with %s; only read-only SELECT statements are allowed", words[0])
	}
	for _, w := range words {
		if forbiddenKeywords[w] {
			return invalidInput("query", "uses %s, which is not allowed; only read-only SELECT statements are allowed", w)
		}
	}
	return nil
}

// scanSQL splits q into upper-cased bare words (skipping string literals, quoted
// identifiers and comments) and counts the statements that hold anything.
func scanSQL(q string) (words []string, statements int, err error) {
	current := false // the current statement has a token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := byte(c)
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], end)
				if k < 0 {
					return nil, 0, invalidInput("query", "has an unterminated %c quote at offset %d", c, i)
				}
				j += k + 1
				if end != ']' && j < len(q) && q[j] == end { // doubled quote escapes itself
					j++
					continue
				}
				break
			}
			current = true
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			k := strings.IndexByte(q[i:], '\n')
			if k < 0 {
				i = len(q)
			} else {
				i += k + 1
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			k := strings.Index(q[i+2:], "*/")
			if k < 0 {
				return nil, 0, invalidInput("query", "has an unterminated /* comment at offset %d", i)
			}
			i += k + 4
		case c == ';':
			if current {
				statements++
				current = false
			}
			i++
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			words = append(words, strings.ToUpper(q[i:j]))
			current = true
			i = j
		case c == 0 || (c < 0x20 && !unicode.IsSpace(rune(c))):
			return nil, 0, invalidInput("query", "holds a control character at offset %d", i)
		default:
			if !unicode.IsSpace(rune(c)) {
				current = true
			}
			i++
		}
	}
	if current {
		statements++
	}
	return words, statements, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
