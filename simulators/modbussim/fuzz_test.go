package modbussim

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// fuzzServer has a unit of every interesting kind: a profiled device, one
// answering exceptions, one answering garbage, one dropping connections.
// It never listens: the fuzz targets drive the stream functions directly.
func fuzzServer(t testing.TB) *Server {
	s := New(Options{ServedLog: 16})
	t.Cleanup(func() { _ = s.Close() })
	mustNoErr(t, s.Unit(1).UseProfile("gas_detector", "fuzz"))
	mustNoErr(t, s.Unit(2).SetFault(Fault{Mode: Exception, Code: ExServerDeviceBusy}))
	mustNoErr(t, s.Unit(3).SetFault(Fault{Mode: Garbage}))
	mustNoErr(t, s.Unit(4).SetFault(Fault{Mode: Drop}))
	mustNoErr(t, s.Unit(5).SetFault(Fault{Mode: NoReply}))
	s.OnServe(func(Served) {})
	return s
}

func mbap(txid uint16, unit byte, pdu []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, txid)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pdu)+1))
	return append(append(b, unit), pdu...)
}

func FuzzTCPFrame(f *testing.F) {
	f.Add(mbap(1, 1, readReq(fcReadHolding, 0, 10)))
	f.Add(append(mbap(1, 1, readReq(fcReadCoils, 0, 2000)), mbap(2, 2, readReq(fcReadInput, 0, 1))...))
	f.Add(mbap(7, 1, writeRegsReq(0, 1, 2, 3)))
	f.Add(mbap(7, 1, writeCoilsReq(3, true, false, true)))
	f.Add(mbap(9, 3, readReq(fcReadHolding, 0, 125)))
	f.Add(mbap(9, 4, readReq(fcReadHolding, 0, 1)))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 1})
	f.Add([]byte{0, 1, 0, 0, 0, 2, 1, 0x2B})
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		_ = s.serveTCPStream(bytes.NewReader(data), &out) // it always ends: the input runs out
		checkMBAPStream(t, out.Bytes())
	})
}

// checkMBAPStream checks that b is a sequence of well-formed MBAP frames.
func checkMBAPStream(t *testing.T, b []byte) {
	for len(b) > 0 {
		if len(b) < mbapHeaderLen+1 {
			t.Fatalf("truncated reply % X", b)
		}
		n := int(binary.BigEndian.Uint16(b[4:]))
		if binary.BigEndian.Uint16(b[2:]) != 0 || n < 2 || n > mbapMaxLength || len(b) < 6+n {
			t.Fatalf("bad reply header % X", b[:mbapHeaderLen])
		}
		pdu := b[mbapHeaderLen : 6+n]
		if b[6] != 3 && (len(pdu) < 2 || pdu[0]&0x80 != 0 && len(pdu) != 2) { // unit 3 answers garbage
			t.Fatalf("bad reply pdu % X", pdu)
		}
		b = b[6+n:]
	}
}

func FuzzRTUFrame(f *testing.F) {
	f.Add(rtuFrame(1, readReq(fcReadHolding, 0, 10)), uint8(0))
	f.Add(append(rtuFrame(1, writeRegsReq(0, 1, 2)), rtuFrame(2, readReq(fcReadCoils, 0, 9))...), uint8(3))
	f.Add(rtuFrame(1, []byte{0x2B, 0x0E, 0x01, 0x00}), uint8(1))
	f.Add(rtuFrame(3, readReq(fcReadInput, 0, 125)), uint8(7))
	f.Add([]byte{0x01, 0x10, 0, 0, 0, 1, 0xFF}, uint8(2))
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var fr rtuFramer
		emit := func(frame []byte) {
			if !crcOK(frame) {
				t.Fatalf("framer emitted a frame with a bad CRC: % X", frame)
			}
			out, err := s.answerRTU(frame, nil)
			if err != nil || len(out) > rtuMaxFrame {
				t.Fatalf("reply % X: %v", out, err)
			}
			if len(out) > 0 && frame[0] != 3 && !crcOK(out) { // unit 3 answers garbage
				t.Fatalf("reply with a bad CRC: % X", out)
			}
		}
		// Deliver the bytes in chunks, with a silence after every chunk when
		// split is odd: both paths of the framer get exercised.
		size := 1 + int(split>>1)%32
		for len(data) > 0 {
			n := min(size, len(data))
			fr.feed(data[:n], emit)
			data = data[n:]
			if split&1 == 1 {
				fr.silence(emit)
			}
		}
		fr.silence(emit)
		if fr.pending() {
			t.Fatal("framer pending after a silence")
		}
	})
}

func FuzzLoadScenario(f *testing.F) {
	f.Add(DefaultScenario())
	f.Add([]byte("modbus: {listeners: {tcp: {units: [{unit: 1, profile: tank, points: {level_mm: {ramp: {from: 1, to: 2, over: 1s}}}}]}}}"))
	f.Add([]byte(`{"modbus":{"faults":[{"unit":1,"mode":"slow"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(Options{})
		defer s.Close()
		_ = s.LoadScenario(bytes.NewReader(data)) // must not panic
	})
}
