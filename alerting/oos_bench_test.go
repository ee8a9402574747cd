package alerting

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkOutOfService is the cost the MQTT source pays per message for
// asking whether its device is out of service: none out of service, and
// 20 devices out of service (the one asked about not among them).
func BenchmarkOutOfService(b *testing.B) {
	for _, n := range []int{0, 20} {
		b.Run(fmt.Sprintf("oos=%d", n), func(b *testing.B) {
			s := newSyncEngine(b, "", quietRules, 0)
			for i := range n {
				id := fmt.Sprintf("CAM-%02d", i)
				s.feed(s.camera(id, "none", 0.1))
				if _, err := s.e.SetOutOfService(id, "张三", "", s.clock.Now().Add(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if s.e.OutOfService("CAM-99") {
					b.Fatal("CAM-99 out of service")
				}
			}
		})
	}
}
