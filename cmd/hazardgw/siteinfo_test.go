package main

import (
	"testing"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/httpapi"
)

// TestSiteInfo: /api/v1/site shows the defaults of what the config leaves
// out, so that the console always knows the zone and language to use.
func TestSiteInfo(t *testing.T) {
	for _, tc := range []struct {
		in   gateway.SiteConfig
		want httpapi.SiteInfo
	}{
		{gateway.SiteConfig{ID: "qz-petro-01", Name: "某石化储罐区"},
			httpapi.SiteInfo{ID: "qz-petro-01", Name: "某石化储罐区", Timezone: "Asia/Shanghai", Language: "zh"}},
		{gateway.SiteConfig{ID: "fj-forest", Language: "en", Timezone: "Asia/Urumqi"},
			httpapi.SiteInfo{ID: "fj-forest", Timezone: "Asia/Urumqi", Language: "en"}},
	} {
		if got := *siteInfo(tc.in); got != tc.want {
			t.Errorf("siteInfo(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
