package modbussim

import "encoding/binary"

// Function codes served.
const (
	fcReadCoils          = 0x01
	fcReadDiscrete       = 0x02
	fcReadHolding        = 0x03
	fcReadInput          = 0x04
	fcWriteCoil          = 0x05
	fcWriteRegister      = 0x06
	fcWriteMultipleCoils = 0x0F
	fcWriteMultipleRegs  = 0x10
)

// Exception codes (Modbus Application Protocol v1.1b3 §7).
const (
	ExIllegalFunction      byte = 0x01
	ExIllegalDataAddress   byte = 0x02
	ExIllegalDataValue     byte = 0x03
	ExServerDeviceFailure  byte = 0x04
	ExAcknowledge          byte = 0x05
	ExServerDeviceBusy     byte = 0x06
	ExGatewayPathFailed    byte = 0x0A
	ExGatewayTargetTimeout byte = 0x0B
)

// Protocol limits on quantities (Modbus Application Protocol §6).
const (
	maxReadBits   = 2000
	maxReadRegs   = 125
	maxWriteBits  = 0x7B0 // 1968
	maxWriteRegs  = 0x7B  // 123
	writeCoilOn   = 0xFF00
	writeCoilOff  = 0x0000
	exceptionFlag = 0x80
)

func appendException(dst []byte, fc, code byte) []byte {
	return append(dst, fc|exceptionFlag, code)
}

// execute runs one request PDU (function code first) against u and appends
// the response PDU to dst. It never fails: a bad request becomes an
// exception response.
func (u *Unit) execute(dst, req []byte) []byte {
	if len(req) == 0 {
		return appendException(dst, 0, ExIllegalFunction)
	}
	fc, data := req[0], req[1:]
	switch fc {
	case fcReadCoils, fcReadDiscrete:
		return u.readBits(dst, fc, data)
	case fcReadHolding, fcReadInput:
		return u.readRegisters(dst, fc, data)
	case fcWriteCoil:
		return u.writeCoil(dst, data)
	case fcWriteRegister:
		return u.writeRegister(dst, data)
	case fcWriteMultipleCoils:
		return u.writeCoils(dst, data)
	case fcWriteMultipleRegs:
		return u.writeRegisters(dst, data)
	}
	return appendException(dst, fc, ExIllegalFunction)
}

// span parses the address and quantity that start most requests and checks
// them against the limit: exception 03 for a bad quantity, else 02 for a
// range running past 65535 (the order of checks in the spec's state
// diagrams). addr and n are returned even with an exception.
func span(data []byte, limit int) (addr uint16, n int, ex byte) {
	addr = binary.BigEndian.Uint16(data)
	n = int(binary.BigEndian.Uint16(data[2:]))
	switch {
	case n < 1 || n > limit:
		ex = ExIllegalDataValue
	case checkSpan(addr, n) != nil:
		ex = ExIllegalDataAddress
	}
	return addr, n, ex
}

// checkByteCount applies the write-multiple rule that the byte count must
// match the quantity and the data that follows; like the quantity it is
// checked before the address.
func checkByteCount(data []byte, want int, ex byte) byte {
	if ex != ExIllegalDataValue && (int(data[4]) != want || len(data) != 5+want) {
		return ExIllegalDataValue
	}
	return ex
}

func (u *Unit) readBits(dst []byte, fc byte, data []byte) []byte {
	if len(data) != 4 {
		return appendException(dst, fc, ExIllegalDataValue)
	}
	addr, n, ex := span(data, maxReadBits)
	if ex != 0 {
		return appendException(dst, fc, ex)
	}
	area := Coil
	if fc == fcReadDiscrete {
		area = Discrete
	}
	nbytes := (n + 7) / 8
	dst = append(dst, fc, byte(nbytes))
	start := len(dst)
	for range nbytes {
		dst = append(dst, 0)
	}
	u.mu.RLock()
	b := u.bits(area)
	for i := range n {
		if b.get(addr + uint16(i)) {
			dst[start+i/8] |= 1 << (i % 8) // first bit in the LSB of the first byte
		}
	}
	u.mu.RUnlock()
	return dst
}

func (u *Unit) readRegisters(dst []byte, fc byte, data []byte) []byte {
	if len(data) != 4 {
		return appendException(dst, fc, ExIllegalDataValue)
	}
	addr, n, ex := span(data, maxReadRegs)
	if ex != 0 {
		return appendException(dst, fc, ex)
	}
	area := Holding
	if fc == fcReadInput {
		area = Input
	}
	dst = append(dst, fc, byte(2*n))
	u.mu.RLock()
	r := u.regs(area)
	for i := range n {
		dst = binary.BigEndian.AppendUint16(dst, r.get(addr+uint16(i)))
	}
	u.mu.RUnlock()
	return dst
}

func (u *Unit) writeCoil(dst, data []byte) []byte {
	if len(data) != 4 {
		return appendException(dst, fcWriteCoil, ExIllegalDataValue)
	}
	addr := binary.BigEndian.Uint16(data)
	v := binary.BigEndian.Uint16(data[2:])
	if v != writeCoilOn && v != writeCoilOff {
		return appendException(dst, fcWriteCoil, ExIllegalDataValue)
	}
	u.mu.Lock()
	u.coils.set(addr, v == writeCoilOn)
	u.mu.Unlock()
	return append(append(dst, fcWriteCoil), data...) // echo
}

func (u *Unit) writeRegister(dst, data []byte) []byte {
	if len(data) != 4 {
		return appendException(dst, fcWriteRegister, ExIllegalDataValue)
	}
	u.mu.Lock()
	u.holding.set(binary.BigEndian.Uint16(data), binary.BigEndian.Uint16(data[2:]))
	u.mu.Unlock()
	return append(append(dst, fcWriteRegister), data...) // echo
}

func (u *Unit) writeCoils(dst, data []byte) []byte {
	const fc = fcWriteMultipleCoils
	if len(data) < 5 {
		return appendException(dst, fc, ExIllegalDataValue)
	}
	addr, n, ex := span(data, maxWriteBits)
	if ex = checkByteCount(data, (n+7)/8, ex); ex != 0 {
		return appendException(dst, fc, ex)
	}
	vals := data[5:]
	u.mu.Lock()
	for i := range n {
		u.coils.set(addr+uint16(i), vals[i/8]&(1<<(i%8)) != 0)
	}
	u.mu.Unlock()
	return append(append(dst, fc), data[:4]...)
}

func (u *Unit) writeRegisters(dst, data []byte) []byte {
	const fc = fcWriteMultipleRegs
	if len(data) < 5 {
		return appendException(dst, fc, ExIllegalDataValue)
	}
	addr, n, ex := span(data, maxWriteRegs)
	if ex = checkByteCount(data, 2*n, ex); ex != 0 {
		return appendException(dst, fc, ex)
	}
	vals := data[5:]
	u.mu.Lock()
	for i := range n {
		u.holding.set(addr+uint16(i), binary.BigEndian.Uint16(vals[2*i:]))
	}
	u.mu.Unlock()
	return append(append(dst, fc), data[:4]...)
}
