// Command ed25519check gives Go's crypto/ed25519 verdict on Ed25519 claims, for the shared
// edge-case test (tests/test_ed25519_edge_cases.py).
//
// Standard input: a JSON array of {"key", "msg", "sig"} objects, each a hex string. Standard
// output: a JSON array of booleans, true where ed25519.Verify accepts the claim. A key that is
// not 32 bytes or a signature that is not 64 bytes is a rejection (Verify would panic on a key
// of the wrong length). Bad input (not JSON, not hex) exits with status 2 and a message.
package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

type claim struct {
	Key string `json:"key"`
	Msg string `json:"msg"`
	Sig string `json:"sig"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ed25519check: "+format+"\n", args...)
	os.Exit(2)
}

func decode(i int, field, text string) []byte {
	raw, err := hex.DecodeString(text)
	if err != nil {
		fail("claim %d: %s is not hex: %v", i, field, err)
	}
	return raw
}

func main() {
	var claims []claim
	if err := json.NewDecoder(os.Stdin).Decode(&claims); err != nil {
		fail("standard input is not a JSON array of claims: %v", err)
	}
	verdicts := make([]bool, len(claims))
	for i, c := range claims {
		key, msg, sig := decode(i, "key", c.Key), decode(i, "msg", c.Msg), decode(i, "sig", c.Sig)
		verdicts[i] = len(key) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize &&
			ed25519.Verify(ed25519.PublicKey(key), msg, sig)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		fail("writing the verdicts: %v", err)
	}
}
