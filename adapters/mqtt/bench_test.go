package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hazardgw/hazardgw/gateway"
	"github.com/hazardgw/hazardgw/gateway/spool"
)

func cameraPayload(i int) []byte {
	return fmt.Appendf(nil, `{"event_id":"CAM-07-%06d","camera_id":"CAM-07","ts":"2026-11-22T09:00:00.%03dZ","type":"smoke","confidence":0.87,"bearing_deg":132.5,"distance_m":1800,"temperature_c":312.0,"image_url":"http://10.0.0.7/snap/%06d.jpg"}`, i, i%1000, i)
}

// BenchmarkDecodeCamera is the hand-written scanner on the built-in camera
// event, decoding into a reused arena as the workers do.
func BenchmarkDecodeCamera(b *testing.B) {
	e := newEnv(gateway.Tag{Key: "zone", Value: "north"})
	payload := cameraPayload(123)
	tags := make([]gateway.Tag, 0, 16)
	fields := make([]gateway.Field, 0, 16)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var d decoded
		d.point.Tags, d.point.Fields = tags, fields
		if r := (cameraDecoder{}).decode(e, payload, &d); !r.ok() {
			b.Fatal(r)
		}
	}
}

// BenchmarkDecodeCameraStdlib is the same with encoding/json into a fixed
// struct, for comparison (what the scanner is measured against).
func BenchmarkDecodeCameraStdlib(b *testing.B) {
	type event struct {
		EventID      string   `json:"event_id"`
		CameraID     string   `json:"camera_id"`
		TS           string   `json:"ts"`
		Type         string   `json:"type"`
		Confidence   *float64 `json:"confidence"`
		BearingDeg   *float64 `json:"bearing_deg"`
		DistanceM    *float64 `json:"distance_m"`
		TemperatureC *float64 `json:"temperature_c"`
		ImageURL     string   `json:"image_url"`
	}
	payload := cameraPayload(123)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var ev event
		if err := json.Unmarshal(payload, &ev); err != nil {
			b.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, ev.TS)
		if err != nil || ev.Confidence == nil {
			b.Fatal(err)
		}
		p := gateway.Point{Measurement: measurementFire, Time: ts,
			Tags: []gateway.Tag{{Key: "site", Value: "s"}, {Key: "camera", Value: ev.CameraID}, {Key: "type", Value: ev.Type}},
			Fields: []gateway.Field{gateway.Float("confidence", *ev.Confidence), gateway.Float("bearing_deg", *ev.BearingDeg),
				gateway.Float("distance_m", *ev.DistanceM), gateway.Float("temperature_c", *ev.TemperatureC),
				gateway.String("event_id", ev.EventID), gateway.String("image_url", ev.ImageURL)}}
		_ = p
	}
}

func BenchmarkDecodePassage(b *testing.B) {
	e := newEnv()
	payload := []byte(goodPassage)
	tags := make([]gateway.Tag, 0, 16)
	fields := make([]gateway.Field, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		var d decoded
		d.point.Tags, d.point.Fields = tags, fields
		if r := (passageDecoder{}).decode(e, payload, &d); !r.ok() {
			b.Fatal(r)
		}
	}
}

func BenchmarkTemplateMatch(b *testing.B) {
	tp, _ := CompileTemplate("site/{site}/camera/{camera}/event")
	dst := make([]gateway.Tag, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tp.Match("site/qz-petro-01/camera/CAM-07/event", dst[:0]); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkDecodeAndSpool decodes camera events and commits them, in
// batches of up to maxBatch as the workers do, through a real Pipeline into
// a real fsync'd spool. Run in parallel: the pipeline group-commits what
// concurrent batches hand it. ns/op is per message.
func BenchmarkDecodeAndSpool(b *testing.B) {
	for _, batch := range []int{1, 50, maxBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sp, err := spool.Open(filepath.Join(b.TempDir(), "spool.db"), spool.Options{MaxBytes: 4 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer sp.Close()
			pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { pipe.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(DefaultWorkers)
			b.RunParallel(func(pb *testing.PB) {
				e := newEnv(gateway.Tag{Key: "camera", Value: "CAM-07"})
				payloads := make([][]byte, batch)
				for pb.Next() {
					// One message per iteration; a batch is committed when full.
					i := int(seq.Add(1))
					payloads = payloads[:0]
					payloads = append(payloads, cameraPayload(i))
					for len(payloads) < batch && pb.Next() {
						i = int(seq.Add(1))
						payloads = append(payloads, cameraPayload(i))
					}
					points := make([]gateway.Point, 0, len(payloads))
					tags := make([]gateway.Tag, 0, len(payloads)*6)
					fields := make([]gateway.Field, 0, len(payloads)*6)
					for _, p := range payloads {
						var d decoded
						d.point.Tags, d.point.Fields = tags[len(tags):], fields[len(fields):]
						if r := (cameraDecoder{}).decode(e, p, &d); !r.ok() {
							b.Error(r)
							return
						}
						tags, fields = carve(tags, d.point.Tags), carve(fields, d.point.Fields)
						points = append(points, d.point)
					}
					if err := pipe.Accept(ctx, points); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := pipe.Stats()
			if st.Commits > 0 {
				b.ReportMetric(float64(st.Accepted)/float64(st.Commits), "points/commit")
			}
		})
	}
}
