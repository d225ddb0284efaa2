package activities

import (
	"strings"
	"unicode"
)

// forbiddenKeywords may not appear as words in an agent's query, even inside a SELECT:
// they reach other database files, change connection settings, or build values of any
// size in one uninterruptible call (randomblob(1e9) holds a core and a gigabyte for
// seconds, past the query timeout). A quoted name called as a function ("zeroblob"(1),
// [printf](…), `randomblob`(…)) counts as the word it quotes.
var forbiddenKeywords = map[string]bool{
	"ATTACH": true, "DETACH": true, "PRAGMA": true, "VACUUM": true, "LOAD_EXTENSION": true,
	"RANDOMBLOB": true, "ZEROBLOB": true, "PRINTF": true, "FORMAT": true,
	// PostgreSQL: value amplifiers, server files, other databases, session settings.
	"REPEAT": true, "LPAD": true, "RPAD": true, "PG_READ_FILE": true, "PG_READ_BINARY_FILE": true,
	"PG_LS_DIR": true, "PG_STAT_FILE": true, "LO_IMPORT": true, "LO_EXPORT": true, "DBLINK": true,
	"SET_CONFIG": true, "PG_SLEEP": true, "COPY": true,
	// PostgreSQL: functions that run SQL given as a string (which the guard cannot read),
	// sleep, signal other sessions, or take locks that outlive the read-only transaction
	// (a session advisory lock would block the migrations' lock).
	"QUERY_TO_XML": true, "QUERY_TO_XMLSCHEMA": true, "QUERY_TO_XML_AND_XMLSCHEMA": true, "TS_STAT": true,
	"PG_SLEEP_FOR": true, "PG_SLEEP_UNTIL": true, "PG_TERMINATE_BACKEND": true, "PG_CANCEL_BACKEND": true,
	"PG_ADVISORY_LOCK": true, "PG_ADVISORY_LOCK_SHARED": true,
	"PG_TRY_ADVISORY_LOCK": true, "PG_TRY_ADVISORY_LOCK_SHARED": true,
}

// CheckReadOnlySQL refuses anything but one SELECT (or WITH ... SELECT, or VALUES)
// statement. It is the first of two guards: the read-only connection and transaction
// the query runs in are the second, enforced by the database itself.
//
// The guard does not know which database will run the query, so it reads the query
// twice, as SQLite tokenizes it and as PostgreSQL does, and the query must pass both
// readings: text that one dialect reads as a string, comment or quoted name and the
// other as code (PostgreSQL's ARRAY[...] is SQLite's [quoted name]; dollar quotes,
// backslash escapes in E'...' strings, nested comments and "--" comments ended by a
// carriage return exist only in PostgreSQL) cannot hide a forbidden name.
func CheckReadOnlySQL(q string) error {
	for _, pg := range []bool{false, true} {
		if err := checkReadOnlySQL(q, pg); err != nil {
			return err
		}
	}
	return nil
}

// checkReadOnlySQL is CheckReadOnlySQL for one dialect: PostgreSQL's when pg is set,
// SQLite's otherwise.
func checkReadOnlySQL(q string, pg bool) error {
	words, statements, err := scanSQL(q, pg)
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

// scanSQL splits q into upper-cased words and counts the statements that hold anything,
// tokenizing as PostgreSQL does when pg is set and as SQLite does otherwise. The words
// are the bare words, and the quoted names followed by "(" (function names: "zeroblob"(…)
// is zeroblob(…)), unquoted; string literals, other quoted names and comments are skipped.
// Syntax that only PostgreSQL reads, and that could make the two readings disagree, is
// refused when pg is set: dollar quotes and $ parameters, backslashes in E'...' strings,
// Unicode-escaped names (U&"...").
func scanSQL(q string, pg bool) (words []string, statements int, err error) {
	current := false // the current statement has a token
	escEnd := -1     // PostgreSQL: the end of the last E'...' string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'':
			j, err := skipQuoted(q, i, '\'')
			if err != nil {
				return nil, 0, err
			}
			// E'...' (also 1E'...' or xE'...', read conservatively), and a string that
			// continues one after white space: a backslash escapes the next character, so
			// E'\'' is one string for PostgreSQL but not for SQLite.
			if pg && (i > 0 && q[i-1]|0x20 == 'e' || escEnd >= 0 && skipSpace(q, escEnd, pg) == i) {
				if strings.IndexByte(q[i:j], '\\') >= 0 {
					return nil, 0, invalidInput("query", "has a backslash in an E'...' string at offset %d; write the string without backslash escapes", i)
				}
				escEnd = j
			}
			current = true
			i = j
		case c == '"' || !pg && (c == '`' || c == '['): // PostgreSQL reads ` and [ ] as code
			if pg && i >= 2 && q[i-1] == '&' && q[i-2]|0x20 == 'u' {
				return nil, 0, invalidInput("query", "has a Unicode-escaped name (U&\"...\") at offset %d; write the name plainly", i-2)
			}
			end := c
			if c == '[' {
				end = ']'
			}
			j, err := skipQuoted(q, i, end)
			if err != nil {
				return nil, 0, err
			}
			if k := skipSpace(q, j, pg); k < len(q) && q[k] == '(' {
				words = append(words, unquoteName(q[i+1:j-1], end))
			}
			current = true
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			i = skipLineComment(q, i, pg)
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j, ok := skipBlockComment(q, i, pg)
			if !ok {
				return nil, 0, invalidInput("query", "has an unterminated /* comment at offset %d", i)
			}
			i = j
		case c == '$' && pg:
			return nil, 0, invalidInput("query", "has a $ at offset %d (a parameter or a dollar-quoted string); write strings in single quotes", i)
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

// skipQuoted returns the offset just past the quoted string or name that opens at q[i]
// and closes with end; a doubled end character (except ]) stands for itself.
func skipQuoted(q string, i int, end byte) (int, error) {
	j := i + 1
	for {
		k := strings.IndexByte(q[j:], end)
		if k < 0 {
			return 0, invalidInput("query", "has an unterminated %c quote at offset %d", q[i], i)
		}
		j += k + 1
		if end != ']' && j < len(q) && q[j] == end { // doubled quote escapes itself
			j++
			continue
		}
		return j, nil
	}
}

// unquoteName returns the upper-cased name a quoted name's body spells.
func unquoteName(body string, end byte) string {
	if end != ']' {
		body = strings.ReplaceAll(body, string([]byte{end, end}), string(end))
	}
	return strings.ToUpper(body)
}

// skipLineComment returns the offset just past the "--" comment at q[i]: its newline, or
// for PostgreSQL its newline or carriage return.
func skipLineComment(q string, i int, pg bool) int {
	stop := "\n"
	if pg {
		stop = "\n\r"
	}
	k := strings.IndexAny(q[i:], stop)
	if k < 0 {
		return len(q)
	}
	return i + k + 1
}

// skipBlockComment returns the offset just past the /* comment at q[i], and false if it
// is not closed. PostgreSQL's block comments nest; SQLite's end at the first */.
func skipBlockComment(q string, i int, pg bool) (int, bool) {
	depth := 0
	for j := i; j+1 < len(q); {
		switch {
		case q[j] == '/' && q[j+1] == '*' && (pg || depth == 0):
			depth++
			j += 2
		case q[j] == '*' && q[j+1] == '/':
			j += 2
			if depth--; depth == 0 {
				return j, true
			}
		default:
			j++
		}
	}
	return len(q), false
}

// skipSpace returns the offset of the first byte from q[j] on that is not white space
// or part of a comment (len(q) if none is, or if a comment is not closed).
func skipSpace(q string, j int, pg bool) int {
	for j < len(q) {
		switch {
		case q[j] == ' ' || q[j] >= '\t' && q[j] <= '\r':
			j++
		case q[j] == '-' && j+1 < len(q) && q[j+1] == '-':
			j = skipLineComment(q, j, pg)
		case q[j] == '/' && j+1 < len(q) && q[j+1] == '*':
			j, _ = skipBlockComment(q, j, pg)
		default:
			return j
		}
	}
	return j
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
