package modbus

import (
	"cmp"
	"slices"
)

// A read is one Modbus read request of a device's poll.
type read struct {
	area  area
	start uint16
	count uint16 // registers or bits; 1..area.maxCount()
	// slots[first:first+n] are the points decoded from this read's response.
	first, n int
}

// bytes is the length of the data of a correct response to r.
func (r *read) bytes() int { return r.area.respBytes(int(r.count)) }

// A slot locates one point's value in the response of its read.
type slot struct {
	point         int // index of the point in the device's point list
	off           int // byte offset in the response data (for bools: the byte holding the bit)
	mask          byte
	typ           dataType
	order         byteOrder
	words         int // registers of the value; 0 for bool
	scale, offset float64
}

// A plan is how a device is polled: the reads, in request order, and where
// each point's value is in their responses. It is computed once by
// makePlan and only read afterwards.
type plan struct {
	reads []read
	slots []slot // grouped by read; within a read in address order
}

// makePlan coalesces points into as few reads as the protocol allows. Per
// area, points are sorted by address; a point joins the current read if
// the run of unused registers between them is at most maxGap (for coil and
// discrete areas: maxGap·16 bits) and the read stays within 125 registers
// or 2000 bits. Points may overlap and several bool points may share a
// register. points must have passed parsePoint; maxGap < 0 counts as 0.
func makePlan(points []pointSpec, maxGap int) plan {
	maxGap = max(maxGap, 0)
	order := make([]int, len(points))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := &points[i], &points[j]
		return cmp.Or(cmp.Compare(a.area, b.area), cmp.Compare(a.addr, b.addr), cmp.Compare(b.span(), a.span()))
	})
	var pl plan
	pl.slots = make([]slot, 0, len(points))
	var cur *read
	var curEnd int // one past the last register or bit cur covers
	for _, pi := range order {
		p := &points[pi]
		start, end := int(p.addr), int(p.addr)+p.span()
		gap := maxGap
		if p.area.isBit() {
			gap *= bitGapFactor
		}
		if cur == nil || cur.area != p.area || start-curEnd > gap || max(curEnd, end)-int(cur.start) > p.area.maxCount() {
			pl.reads = append(pl.reads, read{area: p.area, start: p.addr, first: len(pl.slots)})
			cur, curEnd = &pl.reads[len(pl.reads)-1], end
		}
		curEnd = max(curEnd, end)
		cur.count = uint16(curEnd - int(cur.start))
		cur.n++
		pl.slots = append(pl.slots, makeSlot(pi, p, cur.start))
	}
	return pl
}

// makeSlot locates p in the response of a read starting at start.
func makeSlot(pi int, p *pointSpec, start uint16) slot {
	s := slot{point: pi, typ: p.typ, order: p.order, scale: p.scale, offset: p.offset}
	if p.typ != typeBool {
		s.words = p.span() // a string's length, else the type's width
	}
	rel := int(p.addr - start)
	switch {
	case p.area.isBit():
		s.off, s.mask = rel/8, 1<<(rel%8) // coils are packed LSB first
	case p.typ == typeBool:
		// Registers travel high byte first: bits 15..8, then 7..0.
		s.off, s.mask = 2*rel+1, 1<<(p.bit%8)
		if p.bit >= 8 {
			s.off--
		}
	default:
		s.off = 2 * rel
	}
	return s
}
