package idset

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"iter"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// A run file:
//
//	header   64 bytes: magic, format fields (little endian, among them the
//	         newest receive time), CRC-32C of the header's first 56 bytes,
//	         the Bloom filter and the fence
//	records  count × 32 bytes, sorted by key: key(16) seq(8) receive nanos(8)
//	bloom    bloomBlocks × 64 bytes
//	fence    one key per block of blockRecords records
//
// A run is written under a temporary name, synced, then renamed, so a run
// file that exists under its final name is complete.
const (
	runMagic     = "HLIDSET1"
	headerSize   = 64
	recordSize   = 32
	blockRecords = 128 // 4 KiB of records per fence key
	bitsPerKey   = 10
	runSuffix    = ".run"
	tmpSuffix    = ".tmp"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type record struct {
	key key
	Entry
}

type run struct {
	id      uint64
	path    string
	f       *os.File
	count   uint64
	minSeq  uint64
	maxSeq  uint64
	maxRecv int64    // newest receive time, Unix nanoseconds
	bloom   []uint64 // blocks of 8 words (512 bits); nil once dropped
	fence   []key
	merging bool // guarded by Set.mu
}

func runName(id uint64) string { return fmt.Sprintf("%016x%s", id, runSuffix) }

// class is the run's size class: 0 up to 4·flushSize ids, then one more per
// factor of four.
func (r *run) class(flushSize int) int {
	n := r.count / uint64(flushSize)
	c := 0
	for n >= mergeFanIn {
		n /= mergeFanIn
		c++
	}
	return c
}

func (r *run) close() { _ = r.f.Close() }

var blockPool = sync.Pool{New: func() any { b := make([]byte, blockRecords*recordSize); return &b }}

// lookup finds k in the run.
func (r *run) lookup(k key) (Entry, bool, error) {
	if r.bloom != nil && !bloomHas(r.bloom, k) {
		return Entry{}, false, nil
	}
	// The block whose first key is the last one ≤ k.
	b := sort.Search(len(r.fence), func(i int) bool { return r.fence[i].cmp(k) > 0 }) - 1
	if b < 0 {
		return Entry{}, false, nil
	}
	n := min(uint64(blockRecords), r.count-uint64(b)*blockRecords)
	bufp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bufp)
	buf := (*bufp)[:n*recordSize]
	if _, err := r.f.ReadAt(buf, headerSize+int64(b)*blockRecords*recordSize); err != nil {
		return Entry{}, false, fmt.Errorf("idset: read %s: %w", filepath.Base(r.path), err)
	}
	i := sort.Search(int(n), func(i int) bool { return string(buf[i*recordSize:i*recordSize+16]) >= string(k[:]) })
	if i == int(n) || string(buf[i*recordSize:i*recordSize+16]) != string(k[:]) {
		return Entry{}, false, nil
	}
	return decodeRecord(buf[i*recordSize:]).Entry, true, nil
}

func encodeRecord(b []byte, rec record) {
	copy(b, rec.key[:])
	binary.LittleEndian.PutUint64(b[16:], rec.Sequence)
	binary.LittleEndian.PutUint64(b[24:], uint64(rec.ReceiveNanos))
}

func decodeRecord(b []byte) record {
	var rec record
	copy(rec.key[:], b[:16])
	rec.Sequence = binary.LittleEndian.Uint64(b[16:])
	rec.ReceiveNanos = int64(binary.LittleEndian.Uint64(b[24:]))
	return rec
}

// Bloom filter: blocked, one 512-bit block per key chosen by the key's first
// 8 bytes, seven bits in it taken from the next 8. Keys are hex digits of a
// hash or a SHA-256 prefix, so their bytes are uniformly distributed.
func bloomBlocks(n int) int { return max(1, (n*bitsPerKey+511)/512) }

func bloomAdd(f []uint64, k key) {
	blk, h := bloomPos(f, k)
	for i := range 7 {
		bit := (h >> (9 * i)) & 511
		f[blk*8+int(bit/64)] |= 1 << (bit % 64)
	}
}

func bloomHas(f []uint64, k key) bool {
	blk, h := bloomPos(f, k)
	for i := range 7 {
		bit := (h >> (9 * i)) & 511
		if f[blk*8+int(bit/64)]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

func bloomPos(f []uint64, k key) (int, uint64) {
	hi, _ := bits.Mul64(binary.LittleEndian.Uint64(k[:8]), uint64(len(f)/8))
	return int(hi), binary.LittleEndian.Uint64(k[8:])
}

// writeRun writes recs (sorted by key, no key twice) as run id in dir;
// hint is an upper bound of their number, which sizes the Bloom filter. It
// returns nil when recs is empty.
func writeRun(dir string, id uint64, hint int, recs iter.Seq[record]) (r *run, err error) {
	path := filepath.Join(dir, runName(id))
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("idset: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	r = &run{id: id, path: path, bloom: make([]uint64, bloomBlocks(max(hint, 1))*8), minSeq: ^uint64(0), maxRecv: math.MinInt64}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(make([]byte, headerSize)); err != nil {
		return nil, fmt.Errorf("idset: write run: %w", err)
	}
	var b [recordSize]byte
	for rec := range recs {
		if r.count%blockRecords == 0 {
			r.fence = append(r.fence, rec.key)
		}
		encodeRecord(b[:], rec)
		if _, err := w.Write(b[:]); err != nil {
			return nil, fmt.Errorf("idset: write run: %w", err)
		}
		bloomAdd(r.bloom, rec.key)
		r.count++
		r.minSeq = min(r.minSeq, rec.Sequence)
		r.maxSeq = max(r.maxSeq, rec.Sequence)
		r.maxRecv = max(r.maxRecv, rec.ReceiveNanos)
	}
	if r.count == 0 {
		f.Close()
		os.Remove(tmp)
		return nil, nil
	}
	tail := r.encodeTail()
	if _, err := w.Write(tail); err != nil {
		return nil, fmt.Errorf("idset: write run: %w", err)
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("idset: write run: %w", err)
	}
	if _, err := f.WriteAt(r.encodeHeader(tail), 0); err != nil {
		return nil, fmt.Errorf("idset: write run: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("idset: sync run: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("idset: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	r.f = f
	return r, nil
}

func (r *run) encodeTail() []byte {
	tail := make([]byte, 0, len(r.bloom)*8+len(r.fence)*16)
	for _, w := range r.bloom {
		tail = binary.LittleEndian.AppendUint64(tail, w)
	}
	for _, k := range r.fence {
		tail = append(tail, k[:]...)
	}
	return tail
}

func (r *run) encodeHeader(tail []byte) []byte {
	h := make([]byte, headerSize)
	copy(h, runMagic)
	le := binary.LittleEndian
	le.PutUint64(h[8:], r.id)
	le.PutUint64(h[16:], r.count)
	le.PutUint64(h[24:], r.minSeq)
	le.PutUint64(h[32:], r.maxSeq)
	le.PutUint64(h[40:], uint64(len(r.bloom)/8))
	le.PutUint64(h[48:], uint64(r.maxRecv))
	crc := crc32.Update(crc32.Checksum(h[:56], crcTable), crcTable, tail)
	le.PutUint32(h[56:], crc)
	return h
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("idset: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("idset: sync %s: %w", dir, err)
	}
	return nil
}

// openRun reads a run's header, Bloom filter and fence.
func openRun(path string) (*run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idset: %w", err)
	}
	r, err := readRun(f, path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("idset: %s: %w: %w", filepath.Base(path), ErrCorrupt, err)
	}
	return r, nil
}

func readRun(f *os.File, path string) (*run, error) {
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(f, h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if string(h[:8]) != runMagic {
		return nil, errors.New("not a run file")
	}
	le := binary.LittleEndian
	r := &run{
		path: path, f: f, id: le.Uint64(h[8:]), count: le.Uint64(h[16:]),
		minSeq: le.Uint64(h[24:]), maxSeq: le.Uint64(h[32:]), maxRecv: int64(le.Uint64(h[48:])),
	}
	if name := strings.TrimSuffix(filepath.Base(path), runSuffix); name != fmt.Sprintf("%016x", r.id) {
		return nil, fmt.Errorf("file name does not match run %s", strconv.FormatUint(r.id, 16))
	}
	blocks := le.Uint64(h[40:])
	fences := (r.count + blockRecords - 1) / blockRecords
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	tailLen := blocks*64 + fences*16
	if r.count == 0 || blocks == 0 || uint64(st.Size()) != headerSize+r.count*recordSize+tailLen {
		return nil, errors.New("size does not match its header")
	}
	tail := make([]byte, tailLen)
	if _, err := f.ReadAt(tail, headerSize+int64(r.count)*recordSize); err != nil {
		return nil, fmt.Errorf("read filter: %w", err)
	}
	if crc32.Update(crc32.Checksum(h[:56], crcTable), crcTable, tail) != le.Uint32(h[56:]) {
		return nil, errors.New("checksum mismatch")
	}
	r.bloom = make([]uint64, blocks*8)
	for i := range r.bloom {
		r.bloom[i] = le.Uint64(tail[i*8:])
	}
	fence := tail[blocks*64:]
	r.fence = make([]key, fences)
	for i := range r.fence {
		copy(r.fence[i][:], fence[i*16:])
	}
	return r, nil
}

// mergeRecords yields the records of inputs (newest first) in key order:
// for a key held by several runs the entry with the highest sequence, and
// nothing below floor. A read error stops it and is stored in *errp.
func mergeRecords(inputs []*run, floor uint64, errp *error) iter.Seq[record] {
	return func(yield func(record) bool) {
		type cursor struct {
			rd  *bufio.Reader
			cur record
			ok  bool
		}
		cs := make([]*cursor, len(inputs))
		var b [recordSize]byte
		advance := func(c *cursor) {
			if _, err := io.ReadFull(c.rd, b[:]); err != nil {
				c.ok = false
				if err != io.EOF {
					*errp = fmt.Errorf("idset: merge read: %w", err)
				}
				return
			}
			c.cur, c.ok = decodeRecord(b[:]), true
		}
		for i, r := range inputs {
			sr := io.NewSectionReader(r.f, headerSize, int64(r.count)*recordSize)
			cs[i] = &cursor{rd: bufio.NewReaderSize(sr, 256<<10)}
			advance(cs[i])
		}
		for {
			var best *cursor
			for _, c := range cs {
				if c.ok && (best == nil || c.cur.key.cmp(best.cur.key) < 0) {
					best = c
				}
			}
			if best == nil || *errp != nil {
				return
			}
			out := best.cur
			for _, c := range cs {
				for c.ok && c.cur.key == out.key {
					if c.cur.Sequence > out.Sequence {
						out = c.cur
					}
					advance(c)
				}
			}
			if out.Sequence >= floor && !yield(out) {
				return
			}
		}
	}
}
