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
//	cosigcheck client < run.json     a tlog-witness client on Go's net/http and sumdb/tlog: builds a
//	                                 log, sends add-checkpoint requests (good, stale, forged,
//	                                 forked) to a witness and reports each answer
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
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

type clientRun struct {
	URL        string `json:"url"`
	LogSkey    string `json:"log_skey"`
	WitnessKey string `json:"witness_key"`
}

type step struct {
	Step        string `json:"step"`
	Status      int    `json:"status"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
	Cosigned    bool   `json:"cosigned"`
}

// goLog is a log kept with sumdb/tlog's stored hashes.
type goLog struct {
	stored []tlog.Hash
}

func (l *goLog) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = l.stored[x]
		}
		return out, nil
	})
}

func (l *goLog) append(n int64, data []byte) {
	hashes, err := tlog.StoredHashes(n, data, l.reader())
	if err != nil {
		panic(err)
	}
	l.stored = append(l.stored, hashes...)
}

func buildLog(entries []string) *goLog {
	l := &goLog{}
	for i, e := range entries {
		l.append(int64(i), []byte(e))
	}
	return l
}

func checkpointNote(signer note.Signer, origin string, l *goLog, size int64) []byte {
	root, err := tlog.TreeHash(size, l.reader())
	if err != nil {
		panic(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		panic(err)
	}
	return signed
}

func addCheckpoint(client *http.Client, url string, old int64, proof []tlog.Hash, cp []byte) (int, string, string) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&body, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	body.WriteString("\n")
	body.Write(cp)
	resp, err := client.Post(url+"/add-checkpoint", "text/plain", &body)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), resp.Header.Get("Content-Type")
}

func runClient(r clientRun) []step {
	signer, err := note.NewSigner(r.LogSkey)
	if err != nil {
		panic(err)
	}
	logKey, err := note.NewVerifier(vkeyOf(r.LogSkey))
	if err != nil {
		panic(err)
	}
	witness, err := newCosigVerifier(r.WitnessKey)
	if err != nil {
		panic(err)
	}
	origin := signer.Name()
	entries := []string{}
	for i := 0; i < 11; i++ {
		entries = append(entries, fmt.Sprintf("go entry %d", i))
	}
	honest := buildLog(entries)
	fork := buildLog(append(append([]string{}, entries[:7]...), "go fork"))
	client := &http.Client{Timeout: 10 * time.Second}
	steps := []step{}
	record := func(name string, status int, body, ctype string, cp []byte) {
		s := step{Step: name, Status: status, Body: body, ContentType: ctype}
		if status == 200 {
			n, err := note.Open(append(append([]byte{}, cp...), body...), note.VerifierList(logKey, witness))
			s.Cosigned = err == nil && len(n.Sigs) == 2
		}
		steps = append(steps, s)
	}
	cp4 := checkpointNote(signer, origin, honest, 4)
	st, body, ct := addCheckpoint(client, r.URL, 0, nil, cp4)
	record("first", st, body, ct, cp4)
	cp8 := checkpointNote(signer, origin, honest, 8)
	st, body, ct = addCheckpoint(client, r.URL, 0, nil, cp8)
	record("stale old size", st, body, ct, cp8)
	proof, err := tlog.ProveTree(8, 4, honest.reader())
	if err != nil {
		panic(err)
	}
	st, body, ct = addCheckpoint(client, r.URL, 4, proof, cp8)
	record("consistent", st, body, ct, cp8)
	cp11 := checkpointNote(signer, origin, honest, 11)
	bad, _ := tlog.ProveTree(11, 8, honest.reader())
	bad[0][0] ^= 1
	st, body, ct = addCheckpoint(client, r.URL, 8, bad, cp11)
	record("forged proof", st, body, ct, cp11)
	forked := checkpointNote(signer, origin, fork, 8)
	st, body, ct = addCheckpoint(client, r.URL, 8, nil, forked)
	record("fork at the same size", st, body, ct, forked)
	st, body, ct = addCheckpoint(client, r.URL, 11, nil, cp8)
	record("old above new", st, body, ct, cp8)
	good, _ := tlog.ProveTree(11, 8, honest.reader())
	st, body, ct = addCheckpoint(client, r.URL, 8, good, cp11)
	record("consistent again", st, body, ct, cp11)
	digest := sha256.Sum256([]byte(origin))
	resp, err := client.Get(r.URL + "/" + hex.EncodeToString(digest[:]) + "/checkpoint")
	if err != nil {
		panic(err)
	}
	monitored, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	n, err := note.Open(monitored, note.VerifierList(logKey, witness))
	steps = append(steps, step{
		Step: "monitoring read", Status: resp.StatusCode, Body: string(monitored),
		Cosigned: err == nil && len(n.Sigs) == 2 && strings.Contains(n.Text, "\n11\n"),
	})
	return steps
}

// vkeyOf derives the verifier key of a signer key (sumdb/note has no such function).
func vkeyOf(skey string) string {
	parts := strings.SplitN(skey, "+", 5)
	typed, _ := base64.StdEncoding.DecodeString(parts[4])
	public := ed25519.NewKeyFromSeed(typed[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], public)
	if err != nil {
		panic(err)
	}
	return vkey
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
	case "client":
		var r clientRun
		if err := json.NewDecoder(in).Decode(&r); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_ = out.Encode(runClient(r))
	default:
		os.Exit(2)
	}
}
