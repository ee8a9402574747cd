package main

import (
	"errors"

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
