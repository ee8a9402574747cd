package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// A record on disk is a 4-byte little-endian payload length, a 4-byte
// CRC-32C (Castagnoli) of the length bytes and the payload, then the payload.
// A torn write or a flipped bit makes the CRC disagree, and reading stops
// there: nothing after a bad record in a segment is ever returned.
const (
	recHeader = 8
	// maxPayload bounds a record's length, so that a corrupt length field
	// never makes a reader allocate gigabytes.
	maxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errBadRecord = errors.New("bad record (CRC or length)")
	errShort     = errors.New("truncated record")
)

// appendRecord appends one framed record holding the concatenation of parts.
func appendRecord(buf []byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	crc := crc32.Update(0, castagnoli, buf[start:start+4])
	crc = crc32.Update(crc, castagnoli, buf[start+recHeader:])
	binary.LittleEndian.PutUint32(buf[start+4:], crc)
	return buf
}

// decodeRecord decodes the record at the start of b: its payload (a slice of
// b) and its total size. errShort means b ends inside the record.
func decodeRecord(b []byte) (payload []byte, size int, err error) {
	if len(b) < recHeader {
		return nil, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n > maxPayload {
		return nil, 0, errBadRecord
	}
	if len(b)-recHeader < int(n) {
		return nil, 0, errShort
	}
	payload = b[recHeader : recHeader+int(n)]
	crc := crc32.Update(0, castagnoli, b[:4])
	crc = crc32.Update(crc, castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errBadRecord
	}
	return payload, recHeader + int(n), nil
}

// recReader reads records one by one through a bounded buffer. The payload it
// returns is valid until the next call.
type recReader struct {
	r   *bufio.Reader
	h   [recHeader]byte // here rather than on next's stack, where it would escape
	buf []byte
	off int64 // end of the last good record, relative to where reading started
}

func newRecReader(r io.Reader) *recReader {
	return &recReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next record's payload. io.EOF means a clean end;
// errShort a record cut off by the end; errBadRecord a CRC or length error.
func (rr *recReader) next() ([]byte, error) {
	h := rr.h[:]
	k, err := io.ReadFull(rr.r, h)
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if k > 0 && err == io.ErrUnexpectedEOF {
			return nil, errShort
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if n > maxPayload {
		return nil, errBadRecord
	}
	if cap(rr.buf) < int(n) {
		rr.buf = make([]byte, n)
	}
	p := rr.buf[:n]
	if _, err := io.ReadFull(rr.r, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, errShort
		}
		return nil, err
	}
	crc := crc32.Update(0, castagnoli, h[:4])
	crc = crc32.Update(crc, castagnoli, p)
	if crc != binary.LittleEndian.Uint32(h[4:]) {
		return nil, errBadRecord
	}
	rr.off += recHeader + int64(n)
	return p, nil
}
