package mcpserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// confirmTTL is how long a person has to answer a confirmation request.
const confirmTTL = 10 * time.Minute

// confirmations issues the requestState of a confirmation request and checks it on the
// retried call: an answer counts only when it answers a request this server issued, for
// this caller and this decision, once. Without it a client could send
// inputResponses.confirm in its first call and approve with no person asked.
type confirmations struct {
	secret []byte
	mu     sync.Mutex
	used   map[string]time.Time // nonce -> expiry
}

// confirmState is what a confirmation request was about.
type confirmState struct {
	Who      string `json:"who"`
	Workflow string `json:"wf"`
	Action   string `json:"act"`
	Step     string `json:"step"`
	Nonce    string `json:"n"`
	Expires  int64  `json:"exp"`
}

func newConfirmations() *confirmations {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &confirmations{secret: secret, used: map[string]time.Time{}}
}

// issue returns the signed requestState of a request to confirm the decision.
func (c *confirmations) issue(who string, args AdvanceArgs, now time.Time) string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	st := confirmState{Who: who, Workflow: args.WorkflowID, Action: args.Action, Step: args.Step,
		Nonce: base64.RawURLEncoding.EncodeToString(nonce), Expires: now.Add(confirmTTL).Unix()}
	body, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + c.sign(payload)
}

func (c *confirmations) sign(payload string) string {
	h := hmac.New(sha256.New, c.secret)
	h.Write([]byte("flowgate-confirm-v1:" + payload))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// redeem tells whether state is a request this server issued for who's decision, not
// expired and not redeemed before; it is redeemed by this call.
func (c *confirmations) redeem(state, who string, args AdvanceArgs, now time.Time) bool {
	payload, mac, ok := strings.Cut(state, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(c.sign(payload))) {
		return false
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return false
	}
	var st confirmState
	if json.Unmarshal(body, &st) != nil {
		return false
	}
	if st.Who != who || st.Workflow != args.WorkflowID || st.Action != args.Action || st.Step != args.Step || now.Unix() > st.Expires {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, exp := range c.used {
		if now.After(exp) {
			delete(c.used, n)
		}
	}
	if _, seen := c.used[st.Nonce]; seen {
		return false
	}
	c.used[st.Nonce] = time.Unix(st.Expires, 0)
	return true
}
