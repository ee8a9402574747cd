// Package modbus is hazardgw's Modbus TCP and Modbus RTU source: it polls
// gas detectors, tank gauges and weather stations at their configured
// intervals and hands each poll's readings to a [gateway.Acceptor].
//
// # What a poll produces
//
// Every poll of a device yields, in one Accept call:
//
//   - a point with measurement = the device's kind, tags site, device and
//     the device's tags, one field per configured point (float64, or
//     boolean for bool points), time = when the poll started — only if
//     every request of the poll succeeded. A failed poll never produces
//     values, so nothing that looks good comes out of a device that did not
//     answer properly. A float that decodes to NaN or ±Inf is left out (and
//     shown with bad quality by [Source.Devices]); the other points are kept.
//   - a device_status point (tags site, device, kind, source=modbus; fields
//     online, rtt_ms, and error "class: message" when offline), every poll.
//
// # Configuration
//
// The `modbus` section is compiled once, by one function that both
// [Config.Validate] (what `hazardgw check` runs) and [New] call: it reports
// every problem with its config path, warns about what is valid but
// probably a mistake (a holding address of 40001 or an input address of
// 30001 is usually a datasheet's 1-based register number), and yields the
// parsed points and read plans New polls with. So New refuses exactly what
// Validate reports, and a file `check` accepts always starts.
//
// # Reads
//
// New plans each device once: per area, points are sorted by address and
// coalesced into as few read requests as the protocol allows (125 registers,
// 2000 bits), bridging runs of up to max_gap unused registers (max_gap×16
// bits for coils and discrete inputs). Decoding works on the response bytes
// in place and does not allocate. Byte orders are named by where the value's
// bytes A (most significant) .. D land in the registers: ABCD big-endian,
// CDAB word swap, BADC byte swap within words, DCBA little-endian; 64-bit
// values extend the same pattern. engineering = raw × scale + offset.
//
// # Concurrency
//
// [New] does no I/O. [Source.Run] starts one goroutine per link (a TCP
// endpoint or a serial bus) and returns after ctx ends and all of them have
// returned; a request in flight finishes first, so shutdown takes at most a
// link timeout. Each link goroutine is the only user of its Modbus client:
// requests on a link are strictly serialised, and the unit id is set per
// request. Devices on a link are polled by next due time, each on a fixed
// grid (next = previous slot + interval, no drift); slots that can no
// longer be kept are skipped and counted. Accept is called from the link
// goroutine and may block (back-pressure): a slow spool delays that link's
// polls. [Source.Devices] and [Source.Stats] are safe to call from any
// goroutine at any time.
//
// # Failures
//
// After any failed request the connection is closed (goburrow v0.1.0's TCP
// transaction ids stay out of step after a timeout otherwise) and the
// device's poll ends; the next poll on the link reconnects at once, so a
// dead unit delays the other units on a healthy link by at most one
// timeout per poll. Failures to connect (dial refused, serial port missing)
// back off per link, exponentially with jitter from 100ms up to
// max_backoff; polls due meanwhile report the device offline without I/O.
// Devices and links are logged when their state changes, not per failure.
//
// # TCP transport
//
// goburrow builds the requests and checks the replies (transaction id,
// unit, function, exceptions); on TCP the frames travel through the
// adapter's own transport: a request is one write and its reply usually one
// read, through the connection's RawConn so that the waiting happens in the
// runtime's network poller without a system call that wakes the runtime's
// monitor thread; back-to-back requests share one deadline, renewed when
// less than nine tenths of the timeout is left. Serial links use goburrow's
// RTU transport unchanged.
//
// # Example
//
//	modbus:
//	  links:
//	    - name: gas-panel
//	      url: tcp://10.20.0.15:502
//	      timeout: 1s
//	      devices:
//	        - id: GD-101
//	          unit_id: 1
//	          kind: gas_detector
//	          interval: 1s
//	          points:
//	            - {name: ch4, area: holding, address: 0, type: float32, unit: "%LEL"}
//
//	src, err := modbus.New(cfg.Modbus, cfg.Site.ID, logger.With("component", "modbus"))
//	if err != nil {
//		return err // every problem, with its config path
//	}
//	go src.Run(ctx, pipeline) // blocks until ctx ends
//	states := src.Devices()   // for GET /api/v1/devices
package modbus
