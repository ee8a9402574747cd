package main

import (
	"errors"
	"strings"

	"github.com/hazardgw/hazardgw/adapters/dutydesk"
	"github.com/hazardgw/hazardgw/adapters/receivers"
	"github.com/hazardgw/hazardgw/internal/conf"
)

// checkNotifySecrets refuses webhook secrets whose key is too short to
// sign with (dutydesk.CheckSecret: the notifier refuses them too, and
// check must say so before a start fails). Malformed secrets are reported
// by the alerting section's Validate; only the length is added here.
func (f *File) checkNotifySecrets(p *conf.Problems) {
	for i, n := range f.Alerting.Notify {
		if receivers.Handles(n) {
			continue
		}
		if err := dutydesk.CheckSecret(n.Secret); errors.Is(err, dutydesk.ErrShortKey) {
			p.Addf(conf.Join(conf.Index("alerting.notify", i), "secret"), "%v", err)
		}
	}
}

// checkReceivers checks the receivers other than webhooks with their
// adapter's rules (URL and token, secret, mentions, templates): what
// receivers.New refuses, check reports.
func (f *File) checkReceivers(p *conf.Problems) {
	for i, n := range f.Alerting.Notify {
		if receivers.Handles(n) {
			receivers.Check(n, conf.Index("alerting.notify", i), p)
		}
	}
}

// Modbus data models number registers from 1 with the area as the first
// digit (40001 is the first holding register, 30001 the first input
// register); the protocol, and this configuration, address them from 0.
const (
	holdingRefBase = 40001
	inputRefBase   = 30001
)

// warnModbusReferences warns about a holding or input address that looks
// like such a register number: valid (the protocol has 65536 addresses),
// but far more often a copied datasheet number than a real offset.
func (f *File) warnModbusReferences(p *conf.Problems) {
	for i, l := range f.Modbus.Links {
		for j, d := range l.Devices {
			for k, pt := range d.Points {
				var base int
				switch strings.ToLower(pt.Area) {
				case "holding":
					base = holdingRefBase
				case "input":
					base = inputRefBase
				default:
					continue
				}
				// 4xxxx spans 40001..49999 (and 400001..465536 in the six-digit
				// form, beyond any address): only the five-digit form can be
				// mistaken for an address.
				if pt.Address < base || pt.Address > base+9998 {
					continue
				}
				path := conf.Join(conf.Index(conf.Join(conf.Index(conf.Join(conf.Index("modbus.links", i), "devices"), j), "points"), k), "address")
				p.Warnf(path, "%d looks like a 1-based register number %dxxxx; Modbus addresses here are 0-based offsets: %d → 0 (did you mean address: %d?)",
					pt.Address, base/10000, base, pt.Address-base)
			}
		}
	}
}
