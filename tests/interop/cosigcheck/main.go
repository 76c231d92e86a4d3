// cosigcheck checks C2SP checkpoint cosignatures (c2sp.org/tlog-cosignature, cosignature/v1)
// with code that is not farmtrace's: Go's golang.org/x/mod/sumdb/note (Debian's
// golang-golang-x-mod-dev) parses the note, matches key names and IDs and verifies the log's
// Ed25519 signature; the cosignature/v1 verifier below is written from the specification on
// Go's crypto/ed25519. It also cosigns, so farmtrace's verifier can be checked against it.
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode go build -o cosigcheck ./tests/interop/cosigcheck
//
//	cosigcheck verify < cases.json   one JSON result per case: {"ok":..., "cosigned":[{name,time}], "error":...}
//	cosigcheck sign < requests.json  one cosignature line per request
package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const algCosignatureV1 = 0x04

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	seen map[uint64]bool
	last *uint64
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks sig = 8-byte big-endian timestamp || Ed25519 signature over
// "cosignature/v1\ntime <t>\n" || note text.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	if !ed25519.Verify(v.key, signed, sig[8:]) {
		return false
	}
	v.last = &t
	return true
}

func keyHash(name string, typed []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(typed)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, fmt.Errorf("malformed witness key %q", vkey)
	}
	typed, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(typed) != 1+ed25519.PublicKeySize || typed[0] != algCosignatureV1 {
		return nil, fmt.Errorf("not a cosignature/v1 key: %q", vkey)
	}
	id, err := hex.DecodeString(parts[1])
	if err != nil || binary.BigEndian.Uint32(id) != keyHash(parts[0], typed) {
		return nil, fmt.Errorf("key ID does not match: %q", vkey)
	}
	return &cosigVerifier{name: parts[0], hash: keyHash(parts[0], typed), key: typed[1:]}, nil
}

type verifyCase struct {
	Note      string   `json:"note"`
	LogKey    string   `json:"log_key"`
	Witnesses []string `json:"witnesses"`
}

type cosigned struct {
	Name string `json:"name"`
	Time uint64 `json:"time"`
}

type verifyResult struct {
	OK       bool       `json:"ok"`
	Cosigned []cosigned `json:"cosigned"`
	Error    string     `json:"error,omitempty"`
}

func verify(c verifyCase) verifyResult {
	logKey, err := note.NewVerifier(c.LogKey)
	if err != nil {
		return verifyResult{Error: "log key: " + err.Error()}
	}
	list := []note.Verifier{logKey}
	var witnesses []*cosigVerifier
	for _, w := range c.Witnesses {
		v, err := newCosigVerifier(w)
		if err != nil {
			return verifyResult{Error: err.Error()}
		}
		witnesses = append(witnesses, v)
		list = append(list, v)
	}
	n, err := note.Open([]byte(c.Note), note.VerifierList(list...))
	if err != nil {
		return verifyResult{Error: err.Error()}
	}
	result := verifyResult{OK: false, Cosigned: []cosigned{}}
	for _, sig := range n.Sigs {
		if sig.Name == logKey.Name() && sig.Hash == logKey.KeyHash() {
			result.OK = true
			continue
		}
		for _, w := range witnesses {
			if sig.Name == w.name && sig.Hash == w.hash {
				// Re-verify to read this line's timestamp (Open keeps no per-line state).
				raw, _ := base64.StdEncoding.DecodeString(sig.Base64)
				if w.Verify([]byte(n.Text), raw[4:]) {
					result.Cosigned = append(result.Cosigned, cosigned{w.name, *w.last})
				}
			}
		}
	}
	if !result.OK {
		result.Error = "not signed by the log key"
	}
	return result
}

type signRequest struct {
	Name string `json:"name"`
	Seed string `json:"seed"` // hex, 32 bytes
	Text string `json:"text"`
	Time uint64 `json:"time"`
}

func sign(r signRequest) (string, error) {
	seed, err := hex.DecodeString(r.Seed)
	if err != nil || len(seed) != ed25519.SeedSize {
		return "", fmt.Errorf("bad seed")
	}
	private := ed25519.NewKeyFromSeed(seed)
	public := private.Public().(ed25519.PublicKey)
	typed := append([]byte{algCosignatureV1}, public...)
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", r.Time)), r.Text...)
	blob := make([]byte, 4+8)
	binary.BigEndian.PutUint32(blob, keyHash(r.Name, typed))
	binary.BigEndian.PutUint64(blob[4:], r.Time)
	blob = append(blob, ed25519.Sign(private, signed)...)
	return fmt.Sprintf("— %s %s\n", r.Name, base64.StdEncoding.EncodeToString(blob)), nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cosigcheck verify|sign < input.json")
		os.Exit(2)
	}
	in := bufio.NewReader(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	switch os.Args[1] {
	case "verify":
		var cases []verifyCase
		if err := json.NewDecoder(in).Decode(&cases); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		results := make([]verifyResult, 0, len(cases))
		for _, c := range cases {
			results = append(results, verify(c))
		}
		_ = out.Encode(results)
	case "sign":
		var requests []signRequest
		if err := json.NewDecoder(in).Decode(&requests); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		lines := []string{}
		for _, r := range requests {
			line, err := sign(r)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			lines = append(lines, line)
		}
		_ = out.Encode(lines)
	default:
		os.Exit(2)
	}
}
