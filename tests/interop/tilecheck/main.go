// tilecheck reads a farmtrace chain's C2SP tlog-tiles with Go's golang.org/x/mod/sumdb/tlog
// and sumdb/note, code nobody at farmtrace wrote, and checks them against the checkpoint.
//
// Usage: tilecheck PREFIX VKEY OLD_CHECKPOINT_URL BLOCK...
//
// First it gets PREFIX/checkpoint, verifies its signature with VKEY (note.Open) and reads size
// and root. Then, through tlog.TileHashReader (which checks every tile it loads against the
// tree), it computes the tree hash, proves and checks the inclusion of every header in the
// first and last entry bundles, and proves and checks consistency from the older signed
// checkpoint at OLD_CHECKPOINT_URL (verified with VKEY too) to the latest. Last, for each
// BLOCK height, its header (from the chain log's bundle, already proven) gives the size and
// root of the block's own tiled log at PREFIX/block/<height>/, whose tree hash and entries are
// checked the same way.
//
// Go's tiles put the height in the path (tile/8/<L>/<N>, tile/8/data/<N>); C2SP's do not
// (tile/<L>/<N>, tile/entries/<N>): that is the only translation. Prints "ok ..." lines and
// exits 0, or names the failure and exits 1.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// reader fetches tiles; it keeps what it fetched in memory (TileHashReader checks the tiles
// again on every read, so keeping them trusts nothing).
type reader struct {
	prefix string
	cache  map[string][]byte
}

func (r reader) Height() int { return height }

func c2spPath(t tlog.Tile) string {
	p := t.Path() // tile/8/<L|data>/<N>[.p/<W>]
	p = strings.Replace(p, "tile/8/", "tile/", 1)
	return strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

// get fetches url, waiting out the API's rate limit (429) a few times.
func get(url string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		resp, err := http.Get(url)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 20 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return answer(url, resp.StatusCode, body)
	}
}

func answer(url string, status int, body []byte) ([]byte, error) {
	if status != 200 {
		return nil, fmt.Errorf("%s: HTTP %d: %s", url, status, body)
	}
	return body, nil
}

func (r reader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		url := r.prefix + "/" + c2spPath(t)
		data, known := r.cache[url]
		if !known {
			var err error
			if data, err = get(url); err != nil {
				return nil, err
			}
			r.cache[url] = data
		}
		out[i] = data
	}
	return out, nil
}

func (r reader) SaveTiles([]tlog.Tile, [][]byte) {}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tilecheck: "+format+"\n", args...)
	os.Exit(1)
}

// checkpoint verifies a note with the key and returns its size and root.
func checkpoint(url string, verifier note.Verifier) (int64, tlog.Hash) {
	msg, err := get(url)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint %s: %v", url, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 || lines[0] != verifier.Name() {
		fail("checkpoint %s: not a checkpoint of %s", url, verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint %s: size: %v", url, err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("checkpoint %s: bad root", url)
	}
	var root tlog.Hash
	copy(root[:], raw)
	return size, root
}

func bundle(data []byte) [][]byte {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			fail("entry bundle ends inside a length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			fail("entry bundle ends inside an entry")
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	return entries
}

// entries returns the entries of bundle n of a tiled log at prefix of the given size.
func entries(prefix string, size, n int64) [][]byte {
	w := size - n*256
	if w > 256 {
		w = 256
	}
	t := tlog.Tile{H: height, L: -1, N: n, W: int(w)}
	data, err := get(prefix + "/" + c2spPath(t))
	if err != nil {
		fail("%v", err)
	}
	got := bundle(data)
	if int64(len(got)) != w {
		fail("%s holds %d entries, expected %d", c2spPath(t), len(got), w)
	}
	return got
}

// proveEntries checks the inclusion of every entry of bundle n against (size, root).
func proveEntries(prefix string, size int64, root tlog.Hash, n int64, hr tlog.HashReader) [][]byte {
	got := entries(prefix, size, n)
	for i, e := range got {
		index := n*256 + int64(i)
		proof, err := tlog.ProveRecord(size, index, hr)
		if err != nil {
			fail("%s: proving entry %d: %v", prefix, index, err)
		}
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(e)); err != nil {
			fail("%s: entry %d: %v", prefix, index, err)
		}
	}
	return got
}

func treeHash(prefix string, size int64, root tlog.Hash) tlog.HashReader {
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader{prefix, map[string][]byte{}})
	got, err := tlog.TreeHash(size, hr)
	if err != nil {
		fail("%s: tree hash: %v", prefix, err)
	}
	if got != root {
		fail("%s: the tiles hash to %v, the root is %v", prefix, got, root)
	}
	return hr
}

func main() {
	if len(os.Args) < 4 {
		fail("usage: tilecheck PREFIX VKEY OLD_CHECKPOINT_URL BLOCK...")
	}
	prefix := strings.TrimRight(os.Args[1], "/")
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("key: %v", err)
	}
	size, root := checkpoint(prefix+"/checkpoint", verifier)
	hr := treeHash(prefix, size, root)
	fmt.Printf("ok chain log: %d headers hash to the checkpoint root\n", size)

	headers := map[int64][]byte{}
	last := (size - 1) / 256
	for _, n := range []int64{0, last} {
		for i, h := range proveEntries(prefix, size, root, n, hr) {
			headers[n*256+int64(i)] = h
		}
	}
	fmt.Printf("ok chain log: inclusion of headers in bundles 0 and %d\n", last)

	oldSize, oldRoot := checkpoint(os.Args[3], verifier)
	proof, err := tlog.ProveTree(size, oldSize, hr)
	if err != nil {
		fail("proving consistency %d -> %d: %v", oldSize, size, err)
	}
	if err := tlog.CheckTree(proof, size, root, oldSize, oldRoot); err != nil {
		fail("consistency %d -> %d: %v", oldSize, size, err)
	}
	fmt.Printf("ok chain log: consistent from the signed checkpoint of size %d\n", oldSize)

	for _, arg := range os.Args[4:] {
		h, err := strconv.ParseInt(arg, 10, 64)
		if err != nil {
			fail("block %q: %v", arg, err)
		}
		header, known := headers[h]
		if !known {
			fail("block %d: its header is not in bundles 0 or %d", h, last)
		}
		var bsize int64 = -1
		var broot tlog.Hash
		for _, line := range strings.Split(string(header), "\n") {
			// strings.CutPrefix is Go 1.20; Debian bookworm has 1.19.
			if strings.HasPrefix(line, "size ") {
				bsize, _ = strconv.ParseInt(line[len("size "):], 10, 64)
			}
			if strings.HasPrefix(line, "root ") {
				raw, _ := base64.StdEncoding.DecodeString(line[len("root "):])
				copy(broot[:], raw)
			}
		}
		if bsize < 1 {
			fail("block %d: header has no size", h)
		}
		bprefix := fmt.Sprintf("%s/block/%d", prefix, h)
		bhr := treeHash(bprefix, bsize, broot)
		for n := int64(0); n*256 < bsize; n++ {
			proveEntries(bprefix, bsize, broot, n, bhr)
		}
		fmt.Printf("ok block %d: %d entries hash to the header's root, each proven\n", h, bsize)
	}
}
