package main

import (
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/alerting"
	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/httpapi"
)

// TestSiteInfo: /api/v1/site shows the defaults of what the config leaves
// out, so that the console always knows the zone and language to use.
func TestSiteInfo(t *testing.T) {
	for _, tc := range []struct {
		in    gateway.SiteConfig
		alert alerting.Config
		want  httpapi.SiteInfo
	}{
		{gateway.SiteConfig{ID: "qz-petro-01", Name: "某石化储罐区"}, alerting.Config{},
			httpapi.SiteInfo{ID: "qz-petro-01", Name: "某石化储罐区", Timezone: "Asia/Shanghai", Language: "zh", MaxShelve: "8h0m0s"}},
		{gateway.SiteConfig{ID: "fj-forest", Language: "en", Timezone: "Asia/Urumqi"}, alerting.Config{MaxShelve: 90 * time.Minute},
			httpapi.SiteInfo{ID: "fj-forest", Timezone: "Asia/Urumqi", Language: "en", MaxShelve: "1h30m0s"}},
	} {
		if got := *siteInfo(tc.in, tc.alert); got != tc.want {
			t.Errorf("siteInfo(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
