package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hazardgw/hazardgw/simulators/mqttsim"
)

// cameraEvent is the i-th event of a round: ten cameras, the three event
// types, optional members present on some; timestamps one millisecond apart
// from base, so that every event is its own point.
func cameraEvent(base time.Time, i int) mqttsim.CameraEvent {
	cam := mqttsim.CameraID(i%10 + 1)
	ev := mqttsim.CameraEvent{
		EventID: mqttsim.EventID(cam, i/10+1), CameraID: cam, TS: base.Add(time.Duration(i) * time.Millisecond),
		Type: []string{mqttsim.Smoke, mqttsim.Fire, mqttsim.Hotspot}[i%3], Confidence: float64(i%101) / 100,
		BearingDeg: mqttsim.Ptr(float64(i%3600) / 10), DistanceM: mqttsim.Ptr(float64(i % 5000)),
	}
	if i%2 == 0 {
		ev.TemperatureC = mqttsim.Ptr(float64(i%600) + 0.5)
	}
	if i%5 == 0 {
		ev.ImageURL = fmt.Sprintf("http://10.0.0.7/snap/%06d.jpg", i)
	}
	return ev
}

// session creates (clean=false) or removes (clean=true) the broker's
// session for clientID. A created session subscribes cameraTopicFilter at
// QoS 1, so the broker queues the camera events for it while it is away.
func session(brokerURL, clientID string, clean bool) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).
		SetCleanSession(clean).SetProtocolVersion(4).SetConnectTimeout(10 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect %s: %v", clientID, tok.Error())
	}
	defer c.Disconnect(100)
	if !clean {
		if tok := c.Subscribe(cameraTopicFilter, 1, nil); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			return fmt.Errorf("subscribe %s: %v", clientID, tok.Error())
		}
	}
	return nil
}

// publish queues n camera events (site qz) with two publishers in
// parallel, and waits for every PUBACK.
func publish(ctx context.Context, brokerURL string, base time.Time, n int) error {
	const pubs = 2
	var wg sync.WaitGroup
	errs := make([]error, pubs)
	for k := range pubs {
		wg.Go(func() {
			pub, err := mqttsim.NewPublisher(ctx, mqttsim.PublisherOptions{URL: brokerURL, Site: "qz", ClientID: fmt.Sprintf("benchcmp-pub-%d", k), Window: 512})
			if err != nil {
				errs[k] = err
				return
			}
			defer pub.Close(time.Minute)
			for i := k; i < n; i += pubs {
				if err := pub.PublishCamera(ctx, cameraEvent(base, i)); err != nil {
					errs[k] = err
					return
				}
			}
			errs[k] = pub.Flush(ctx)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// runCeiling is `benchcmp ceiling`: the bare paho subscriber. It resumes
// the persistent session, counts messages and lets paho acknowledge each
// after the handler returns, prints "done" once n have arrived, and exits.
// Nothing is decoded or stored.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet("ceiling", flag.ExitOnError)
	url := fs.String("url", "", "broker URL")
	id := fs.String("client-id", "", "client id of the persistent session")
	n := fs.Int64("n", 0, "messages to receive")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var got atomic.Int64
	done := make(chan struct{})
	o := paho.NewClientOptions().AddBroker(*url).SetClientID(*id).SetCleanSession(false).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, _ paho.Message) {
			if got.Add(1) == *n {
				close(done)
			}
		})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	<-done
	fmt.Println("done")
	c.Disconnect(250)
	return nil
}

// waitLine waits until r yields the line want (the ceiling's "done").
func waitLine(r io.Reader, want string) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == want {
			go io.Copy(io.Discard, r) // keep the pipe drained
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("no %q before end of output", want)
}

func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
