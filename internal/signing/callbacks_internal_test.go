package signing

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKeys(t *testing.T, id string) *Keys {
	t.Helper()
	k, err := Parse([]byte(id + " " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(id, 32)[:32]))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCallbackTokensAreBoundAndUnforgeable: a callback token verifies to what it was made
// for; altered, cut short, signed with another key, past its expiry, or an approval link
// in its place, it is refused.
func TestCallbackTokensAreBoundAndUnforgeable(t *testing.T) {
	k := testKeys(t, "a")
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	token, nonce, err := k.SignCallback(Callback{WorkflowID: "ci-1", RunID: "run-1", Step: "wait_ci"}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.VerifyCallback(token, now.Add(time.Hour))
	if err != nil || c.WorkflowID != "ci-1" || c.RunID != "run-1" || c.Step != "wait_ci" || c.Nonce != nonce || len(nonce) != 32 {
		t.Fatalf("verify = %+v, %v", c, err)
	}
	p, s, _ := strings.Cut(token, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(p)
	altered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claims), "wait_ci", "wait_cd", 1))) + "." + s
	link, _ := k.SignLink(Link{WorkflowID: "ci-1", RunID: "run-1", Step: "wait_ci", Approver: "bob", Expires: now.Add(time.Hour)})
	for name, tc := range map[string]struct {
		token string
		keys  *Keys
		at    time.Time
		want  error
	}{
		"altered":          {altered, k, now, ErrCallbackInvalid},
		"cut short":        {token[:len(token)-5], k, now, ErrCallbackInvalid},
		"another key":      {token, testKeys(t, "b"), now, ErrCallbackInvalid},
		"an approval link": {link, k, now, ErrCallbackInvalid},
		"expired":          {token, k, now.Add(CallbackTTL), ErrCallbackExpired},
	} {
		if _, err := tc.keys.VerifyCallback(tc.token, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := k.VerifyLink(token, now); err == nil {
		t.Error("a callback token verifies as an approval link")
	}
}
