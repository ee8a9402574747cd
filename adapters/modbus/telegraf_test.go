package modbus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/simulators/modbussim"
)

// telegrafCase is one case of Telegraf's holding-register test table:
// the registers written and the value Telegraf reads from them.
type telegrafCase struct {
	name      string
	address   int
	quantity  int
	bit       int
	byteOrder string
	dataType  string
	scale     float64 // 0: none
	write     []byte  // the registers, high byte first, as written with function 16
	read      any     // Telegraf's field value
}

// telegrafHoldingRegisters is the table of TestRegisterHoldingRegisters in
// github.com/influxdata/telegraf plugins/inputs/modbus/configuration_register_test.go
// (commit b27263146617cefe16c0b300107b58b111a7fa57), copied as test data:
// name, first address, quantity, bit, byte order, data type, scale, the
// bytes written and the value read. Telegraf, MIT licence.
var telegrafHoldingRegisters = []telegrafCase{
	{"register5_bit3", 5, 1, 3, "AB", "BIT", 0, []byte{0x18, 0x0d}, uint8(1)},
	{"register5_bit14", 5, 1, 14, "AB", "BIT", 0, []byte{0x18, 0x0d}, uint8(0)},
	{"register0_ab_float", 0, 1, 0, "AB", "FIXED", 0.1, []byte{0xFF, 0xD6}, float64(-4.2)},
	{"register1_ba_ufloat", 1, 1, 0, "BA", "UFIXED", 0.1, []byte{0xD8, 0xFF}, float64(6549.6)},
	{"register4_register5_abcd_float", 4, 2, 0, "ABCD", "FIXED", 0.1, []byte{0xFF, 0xFF, 0xFF, 0xD6}, float64(-4.2)},
	{"register5_register6_dcba_ufloat", 5, 2, 0, "DCBA", "UFIXED", 0.001, []byte{0xD8, 0xFF, 0xFF, 0xFF}, float64(4294967.256)},
	{"register5_to_register8_abcdefgh_float", 5, 4, 0, "ABCDEFGH", "FIXED", 0.000001, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xD6}, float64(-0.000042)},
	{"register6_to_register9_hgfedcba_ufloat", 6, 4, 0, "HGFEDCBA", "UFIXED", 0.000000001, []byte{0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}, float64(18441921395.520346504)},
	{"register20_uint16", 10, 1, 0, "AB", "UINT8L", 1, []byte{0x18, 0x0D}, uint8(13)},
	{"register20_uint16-scale_.1", 10, 1, 0, "AB", "UINT8L", .1, []byte{0x18, 0x0D}, uint8(1)},
	{"register20_uint16_scale_10", 10, 1, 0, "AB", "UINT8L", 10, []byte{0x18, 0x0D}, uint8(130)},
	{"register11_uint8H", 11, 1, 0, "AB", "UINT8H", 1, []byte{0x18, 0x0D}, uint8(24)},
	{"register11_uint8L-scale_.1", 11, 1, 0, "AB", "UINT8H", .1, []byte{0x18, 0x0D}, uint8(2)},
	{"register11_uint8L_scale_10", 11, 1, 0, "AB", "UINT8H", 10, []byte{0x18, 0x0D}, uint8(240)},
	{"register12_int8L", 12, 1, 0, "AB", "INT8L", 1, []byte{0x98, 0x8D}, int8(-115)},
	{"register12_int8L-scale_.1", 12, 1, 0, "AB", "INT8L", .1, []byte{0x98, 0x8D}, int8(-11)},
	{"register12_int8L_scale_10", 12, 1, 0, "AB", "INT8L", 10, []byte{0x98, 0xF8}, int8(-80)},
	{"register13_int8H", 13, 1, 0, "AB", "INT8H", 1, []byte{0x98, 0x8D}, int8(-104)},
	{"register13_int8H-scale_.1", 13, 1, 0, "AB", "INT8H", .1, []byte{0x98, 0x8D}, int8(-10)},
	{"register13_int8H_scale_10", 13, 1, 0, "AB", "INT8H", 10, []byte{0xFD, 0x8D}, int8(-30)},
	{"register15_ab_uint16", 15, 1, 0, "AB", "UINT16", 1, []byte{0xAB, 0xCD}, uint16(43981)},
	{"register15_ab_uint16-scale_.1", 15, 1, 0, "AB", "UINT16", .1, []byte{0xAB, 0xCD}, uint16(4398)},
	{"register15_ab_uint16_scale_10", 15, 1, 0, "AB", "UINT16", 10, []byte{0x00, 0x2A}, uint16(420)},
	{"register20_ba_uint16", 20, 1, 0, "BA", "UINT16", 1, []byte{0xAB, 0xCD}, uint16(52651)},
	{"register30_ab_int16", 20, 1, 0, "AB", "INT16", 1, []byte{0xAB, 0xCD}, int16(-21555)},
	{"register40_ba_int16", 40, 1, 0, "BA", "INT16", 1, []byte{0xAB, 0xCD}, int16(-12885)},
	{"register50_register51_abcd_int32_scaled", 50, 2, 0, "ABCD", "INT32", 10, []byte{0x00, 0x00, 0xAB, 0xCD}, int32(439810)},
	{"register50_register51_abcd_int32", 50, 2, 0, "ABCD", "INT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, int32(-1430532899)},
	{"register60_register61_dcba_int32", 60, 2, 0, "DCBA", "INT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, int32(-573785174)},
	{"register70_register71_badc_int32", 70, 2, 0, "BADC", "INT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, int32(-1146430004)},
	{"register80_register81_cdab_int32", 80, 2, 0, "CDAB", "INT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, int32(-857888069)},
	{"register90_register91_abcd_uint32", 90, 2, 0, "ABCD", "UINT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, uint32(2864434397)},
	{"register100_register101_dcba_uint32", 100, 2, 0, "DCBA", "UINT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, uint32(3721182122)},
	{"register110_register111_badc_uint32", 110, 2, 0, "BADC", "UINT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, uint32(3148537292)},
	{"register120_register121_cdab_uint32", 120, 2, 0, "CDAB", "UINT32", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, uint32(3437079227)},
	{"register130_register131_abcd_float32_ieee", 130, 2, 0, "ABCD", "FLOAT32-IEEE", 1, []byte{0xAA, 0xBB, 0xCC, 0xDD}, float32(-3.3360025e-13)},
	{"register130_register131_abcd_float32_ieee_scaled", 130, 2, 0, "ABCD", "FLOAT32-IEEE", 10, []byte{0xAA, 0xBB, 0xCC, 0xDD}, float32(-3.3360025e-12)},
	{"register140_to_register143_abcdefgh_int64_scaled", 140, 4, 0, "ABCDEFGH", "INT64", 10, []byte{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xAB, 0xCD}, int64(10995116717570)},
	{"register140_to_register143_abcdefgh_int64", 140, 4, 0, "ABCDEFGH", "INT64", 1, []byte{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xAB, 0xCD}, int64(1099511671757)},
	{"register150_to_register153_hgfedcba_int64", 150, 4, 0, "HGFEDCBA", "INT64", 1, []byte{0x84, 0xF6, 0x45, 0xF9, 0xBC, 0xFE, 0xFF, 0xFF}, int64(-1387387292028)},
	{"register160_to_register163_badcfehg_int64", 160, 4, 0, "BADCFEHG", "INT64", 1, []byte{0xFF, 0xFF, 0xBC, 0xFE, 0x45, 0xF9, 0x84, 0xF6}, int64(-1387387292028)},
	{"register170_to_register173_ghefcdab_int64", 170, 4, 0, "GHEFCDAB", "INT64", 1, []byte{0xF6, 0x84, 0xF9, 0x45, 0xFE, 0xBC, 0xFF, 0xFF}, int64(-1387387292028)},
	{"register180_to_register183_abcdefgh_uint64_scaled", 180, 4, 0, "ABCDEFGH", "UINT64", 10, []byte{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xAB, 0xCD}, uint64(10995116717570)},
	{"register180_to_register183_abcdefgh_uint64", 180, 4, 0, "ABCDEFGH", "UINT64", 1, []byte{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xAB, 0xCD}, uint64(1099511671757)},
	{"register190_to_register193_hgfedcba_uint64", 190, 4, 0, "HGFEDCBA", "UINT64", 1, []byte{0x84, 0xF6, 0x45, 0xF9, 0xBC, 0xFE, 0xFF, 0xFF}, uint64(18446742686322259968)},
	{"register200_to_register203_badcfehg_uint64", 200, 4, 0, "BADCFEHG", "UINT64", 1, []byte{0xFF, 0xFF, 0xBC, 0xFE, 0x45, 0xF9, 0x84, 0xF6}, uint64(18446742686322259968)},
	{"register210_to_register213_ghefcdab_uint64", 210, 4, 0, "GHEFCDAB", "UINT64", 1, []byte{0xF6, 0x84, 0xF9, 0x45, 0xFE, 0xBC, 0xFF, 0xFF}, uint64(18446742686322259968)},
	{"register214_to_register217_abcdefgh_float64_ieee", 214, 4, 0, "ABCDEFGH", "FLOAT64-IEEE", 1, []byte{0xBF, 0x9C, 0x6A, 0x40, 0xC3, 0x47, 0x8F, 0x55}, float64(-0.02774907295123737)},
	{"register214_to_register217_abcdefgh_float64_ieee_scaled", 214, 4, 0, "ABCDEFGH", "FLOAT64-IEEE", 0.1, []byte{0xBF, 0x9C, 0x6A, 0x40, 0xC3, 0x47, 0x8F, 0x55}, float64(-0.002774907295123737)},
	{"register218_to_register221_abcdefgh_float64_ieee_pos", 218, 4, 0, "ABCDEFGH", "FLOAT64-IEEE", 1, []byte{0x3F, 0x9C, 0x6A, 0x40, 0xC3, 0x47, 0x8F, 0x55}, float64(0.02774907295123737)},
	{"register222_to_register225_hgfecdba_float64_ieee", 222, 4, 0, "HGFEDCBA", "FLOAT64-IEEE", 1, []byte{0x55, 0x8F, 0x47, 0xC3, 0x40, 0x6A, 0x9C, 0xBF}, float64(-0.02774907295123737)},
	{"register226_to_register229_badcfehg_float64_ieee", 226, 4, 0, "BADCFEHG", "FLOAT64-IEEE", 1, []byte{0x9C, 0xBF, 0x40, 0x6A, 0x47, 0xC3, 0x55, 0x8F}, float64(-0.02774907295123737)},
	{"register230_to_register233_ghefcdab_float64_ieee", 230, 4, 0, "GHEFCDAB", "FLOAT64-IEEE", 1, []byte{0x8F, 0x55, 0xC3, 0x47, 0x6A, 0x40, 0xBF, 0x9C}, float64(-0.02774907295123737)},
	{"register240_abcd_float16", 240, 1, 0, "AB", "FLOAT16-IEEE", 1, []byte{0xb8, 0x14}, float64(-0.509765625)},
	{"register240_dcba_float16", 240, 1, 0, "BA", "FLOAT16-IEEE", 1, []byte{0x14, 0xb8}, float64(-0.509765625)},
	{"register250_abcd_string", 250, 7, 0, "AB", "STRING", 0, []byte{0x4d, 0x6f, 0x64, 0x62, 0x75, 0x73, 0x20, 0x53, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x00}, "Modbus String"},
	{"register250_dcba_string", 250, 7, 0, "BA", "STRING", 0, []byte{0x6f, 0x4d, 0x62, 0x64, 0x73, 0x75, 0x53, 0x20, 0x72, 0x74, 0x6e, 0x69, 0x00, 0x67}, "Modbus String"},
}

// telegrafPoint expresses a Telegraf field definition as a hazardgw point.
// Telegraf's FIXED and UFIXED are scaled integers of the quantity's width,
// BIT a bit of a register, STRING a string of quantity registers.
func telegrafPoint(c telegrafCase) PointConfig {
	pc := PointConfig{Name: "v", Area: "holding", Address: c.address, Order: c.byteOrder}
	width := map[int]string{1: "16", 2: "32", 4: "64"}[c.quantity]
	switch c.dataType {
	case "BIT":
		pc.Type, pc.Bit = "bool", ptr(c.bit)
	case "FIXED":
		pc.Type = "int" + width
	case "UFIXED":
		pc.Type = "uint" + width
	case "STRING":
		pc.Type, pc.Length = "string", c.quantity
	default: // INT8L ... UINT64, FLOAT16-IEEE ... FLOAT64-IEEE
		pc.Type = strings.ToLower(strings.TrimSuffix(c.dataType, "-IEEE"))
	}
	if c.scale != 0 {
		pc.Scale = ptr(c.scale)
	}
	return pc
}

// telegrafCheck compares what hazardgw read (float64, bool or string) with
// Telegraf's value. Telegraf returns a scaled integer register in the
// register's own type, the product truncated toward zero (uint16(43981 ×
// 0.1) = 4398), and a scaled float32 as float32; hazardgw keeps the
// float64 product (4398.1). So the value is converted the way Telegraf
// converts it before comparing, and when there is no scaling it must be
// equal as a float64 too.
func telegrafCheck(c telegrafCase, got any) error {
	f, isFloat := got.(float64)
	unscaled := c.scale == 0 || c.scale == 1
	var ok bool
	switch want := c.read.(type) {
	case string:
		ok = got == want
	case uint8:
		if c.dataType == "BIT" {
			ok = got == (want == 1)
		} else {
			ok = isFloat && uint8(f) == want && (!unscaled || f == float64(want))
		}
	case int8:
		ok = isFloat && int8(f) == want && (!unscaled || f == float64(want))
	case uint16:
		ok = isFloat && uint16(f) == want && (!unscaled || f == float64(want))
	case int16:
		ok = isFloat && int16(f) == want && (!unscaled || f == float64(want))
	case uint32:
		ok = isFloat && uint32(f) == want && (!unscaled || f == float64(want))
	case int32:
		ok = isFloat && int32(f) == want && (!unscaled || f == float64(want))
	case uint64:
		ok = isFloat && uint64(f) == want && (!unscaled || f == float64(want))
	case int64:
		ok = isFloat && int64(f) == want && (!unscaled || f == float64(want))
	case float32:
		ok = isFloat && float32(f) == want && (!unscaled || f == float64(want))
	case float64:
		ok = isFloat && f == want
	default:
		return fmt.Errorf("no comparison for Telegraf's %T", want)
	}
	if !ok {
		return fmt.Errorf("read %#v (%T), Telegraf reads %#v (%T)", got, got, c.read, c.read)
	}
	return nil
}

// TestTelegrafHoldingRegisters decodes every case of Telegraf's table
// from the bytes it writes, as the response data of a read of its
// registers.
func TestTelegrafHoldingRegisters(t *testing.T) {
	if n := len(telegrafHoldingRegisters); n != 57 {
		t.Fatalf("%d cases, Telegraf's table has 57", n)
	}
	pass := 0
	for _, c := range telegrafHoldingRegisters {
		t.Run(c.name, func(t *testing.T) {
			if len(c.write) != 2*c.quantity {
				t.Fatalf("%d bytes for %d registers", len(c.write), c.quantity)
			}
			pc := telegrafPoint(c)
			p, err := parsePoint(pc)
			if err != nil {
				t.Fatalf("point %+v: %v", pc, err)
			}
			pl := makePlan([]pointSpec{p}, 16)
			if len(pl.reads) != 1 || int(pl.reads[0].start) != c.address || int(pl.reads[0].count) != c.quantity {
				t.Fatalf("plan %+v, want one read of %d+%d", pl.reads, c.address, c.quantity)
			}
			vals := make([]value, 1)
			if err := pl.decode(0, c.write, vals); err != nil {
				t.Fatal(err)
			}
			if vals[0].bad {
				t.Fatalf("decoded a bad value %v", vals[0].f)
			}
			if err := telegrafCheck(c, p.valueOf(&vals[0])); err != nil {
				t.Fatal(err)
			}
			pass++
		})
	}
	t.Logf("%d of %d Telegraf holding-register cases decode as Telegraf reads them", pass, len(telegrafHoldingRegisters))
}

// TestTelegrafHoldingRegistersOverTCP puts each case's bytes into the
// simulator's holding registers, checks them with mbpoll (an independent
// client), and polls them through a Source over TCP.
func TestTelegrafHoldingRegistersOverTCP(t *testing.T) {
	mustLookPath(t, mbpollPath)
	sim, addr := startSim(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	u := sim.Unit(1)
	pass := 0
	for _, c := range telegrafHoldingRegisters {
		t.Run(c.name, func(t *testing.T) {
			words := make([]uint16, c.quantity)
			for i := range words {
				words[i] = uint16(c.write[2*i])<<8 | uint16(c.write[2*i+1])
			}
			if err := u.SetRegisters(modbussim.Holding, uint16(c.address), words...); err != nil {
				t.Fatal(err)
			}
			seen := mbpoll(t, port, 1, "4:hex", c.address+1, c.quantity)
			for i, w := range words {
				if seen[c.address+1+i] != float64(w) {
					t.Fatalf("mbpoll reads register %d as %#x, want %#04x", c.address+i, int(seen[c.address+1+i]), w)
				}
			}
			src, err := New(Config{Links: []LinkConfig{{Name: "l", URL: "tcp://" + addr, Timeout: 2 * time.Second,
				Devices: []DeviceConfig{{ID: "D1", UnitID: 1, Kind: "telegraf", Points: []PointConfig{telegrafPoint(c)}}}}}}, "s", testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			res, err := src.PollOnce(context.Background(), "")
			if err != nil || len(res) != 1 || res[0].Err != nil {
				t.Fatalf("poll: %v %+v", err, res)
			}
			v := res[0].Values[0]
			if v.Quality != QualityGood {
				t.Fatalf("quality %s", v.Quality)
			}
			if err := telegrafCheck(c, v.Value); err != nil {
				t.Fatal(err)
			}
			pass++
		})
	}
	t.Logf("%d of %d Telegraf holding-register cases read over TCP as Telegraf reads them", pass, len(telegrafHoldingRegisters))
}
