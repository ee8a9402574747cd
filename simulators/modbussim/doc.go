// Package modbussim is the Modbus slave side of the simulated site: a Modbus
// TCP server (MBAP framing) and a Modbus RTU server (CRC-16, on a serial or
// pseudo-terminal path) that answer for many unit ids, each holding its own
// coils, discrete inputs, holding registers and input registers.
//
// It exists so that hazardgw's Modbus adapter can be tested against a real
// server, and so that the demo has devices to poll. It deliberately shares no
// code with the gateway: every frame, register encoding and CRC here is
// written from the Modbus Application Protocol and Modbus over Serial Line
// specifications, so a byte-order or framing bug on either side shows up as a
// failed test instead of cancelling itself out.
//
// # Model
//
// A [Server] owns units, addressed by their unit id (1..255). A unit has four
// sparse 65536-entry areas. Values can be set raw ([Unit.SetRegisters],
// [Unit.SetBits]) or as typed engineering values ([Unit.SetValue],
// [Encode]), using engineering = raw*scale + offset and the word/byte orders
// ABCD, CDAB, BADC and DCBA. A unit can follow a device [Profile] (a
// register map such as "gas_detector"), whose points a scenario timeline
// drives with generators (const, ramp, step, sine, noise) and whose values
// can be pinned with [Unit.Override].
//
// A unit that does not exist never gets an answer, on TCP as on RTU: the
// client sees a timeout, exactly as behind a real Modbus gateway whose
// target is missing. Faults ([Fault]) can make an existing unit silent, slow,
// answer with an exception, drop the TCP connection or answer garbage.
//
// # Concurrency
//
// All methods of Server and Unit are safe for concurrent use. [New] does no
// I/O. [Server.ListenTCP] and [Server.ServeRTU] start goroutines owned by the
// server; each TCP connection is served by its own goroutine, requests on one
// connection (or one serial line) are answered in order. [Server.RunScenario]
// blocks until its context ends or the server is closed. [Server.Close] stops
// listeners, connections, serial ports and the scenario, and returns only
// after every goroutine the server started has returned.
//
// Hooks registered with [Server.OnServe] run synchronously on the serving
// goroutine, after a read request has been executed and before its reply is
// written, so a client that has received a reply can rely on the hook having
// run. Hooks must be quick and must not modify the slices they are given.
//
// # Example
//
//	s := modbussim.New(modbussim.Options{Logger: logger})
//	defer s.Close()
//	addr, err := s.ListenTCP("127.0.0.1:0")
//	if err != nil { ... }
//	u := s.Unit(1)
//	_ = u.SetValue(modbussim.Holding, 0, "float32", "ABCD", 1, 0, 23.5)
//	// a Modbus client reading 2 holding registers at 0 from addr, unit 1,
//	// now gets 0x41BC 0x0000.
package modbussim
