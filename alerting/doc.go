// Package alerting turns committed readings into alarms for the duty desk:
// alarm rules, an ISA-18.2 / IEC 62682 alarm lifecycle, a durable outbox,
// and the alert API.
//
// # Rules
//
// A rule (Config.Rules) matches devices and points by kind,
// device and point, with `*` globs (path.Match), and has one condition:
//
//   - thresholds: levels `above` or `below` a limit, each with its
//     severity; the worst breached level is the alert's level (more severe
//     first, then further from normal). A level is breached at or beyond
//     its limit and, once in force, stays so until the value is back past
//     limit − deadband (limit + deadband for `below`), so a value wobbling
//     around a limit cannot flap. on_delay: a worsening must persist that
//     long; off_delay: an improvement (a lower level, or normal) must.
//   - rate: the rise of a value over the window `per` — the newest value
//     minus the smallest good sample in the window, resolved to per/32 —
//     against `above`, with the same deadband and delays.
//   - state: a boolean point (a detector's alarm or fault bit) equal to
//     `value`; default severity red, since a detector fault is routed like
//     a second-level alarm (二级报警).
//   - stale: a device is offline after `after` polls in a row failed or
//     `after` poll intervals passed without data (intervals come from
//     Options.Devices), or — for `after` given as a duration, or devices
//     without a poll interval such as MQTT cameras — after that long
//     without data or once its source reports it offline. It clears when
//     the device is heard from. Its point is "online".
//   - event: camera events (a point with a `type` tag and a `confidence`
//     field, such as fire_detection) of the listed types at or above
//     min_confidence. One camera's events are one incident: its alert
//     (point "confidence") has the worst type seen as its level (hotspot <
//     smoke < fire; a worse one is alert.changed); an event is taken by the
//     first event rule that matches it, and a worse event under another
//     rule moves the incident to that rule (its severity). It carries what
//     the latest event said (CameraEvent: event time, bearing, distance,
//     image, id) and, for a camera with a Device.Location, the fire's
//     position — the intersection with another located camera's bearing
//     within Options.TriangulateWindow, else the great-circle point at the
//     camera's bearing and distance (package geo). It ends auto_resolve
//     (default 10m) after the last such event, saying no new detection came,
//     never that the fire is out. An event older than Options.MaxEventAge
//     when it arrives alarms saying it is late; one whose event_id was seen
//     before (the last 4096, kept in the store) raises nothing.
//   - voice_missed: a checkpoint passage (voice_played false) while the
//     forest fire danger level — the latest fire_danger point the engine
//     has seen — is at least min_level. Point voice_played, level
//     voice_missed, value the danger level; further misses extend the
//     active alert, which resolves auto_resolve (default 10m) after the
//     last one.
//
// A station's fire_danger rating (tag station) is evaluated as a series of
// that station of kind fire_danger: rules match it by that kind, and its
// alerts carry it.
//
// Only good values are evaluated: a failed poll brings no values and so
// neither raises nor clears a threshold alarm (the stale rule reports it);
// it also restarts any on/off delay in progress, since the condition can no
// longer be said to have persisted. NaN and infinities are never evaluated.
// Delays of value conditions advance with samples, not with the clock.
// Sample-driven timing uses the engine's clock when the batch is
// evaluated; only the rate window uses the points' own timestamps.
//
// # Lifecycle
//
// One alert exists per (rule, device, point) at a time. It fires active
// and unacknowledged (alert.firing); a change of level or severity while
// active sends alert.changed; return to normal sends alert.resolved and, if not yet
// acknowledged, the alert stays listed as cleared-unacknowledged;
// acknowledging through the API sends alert.acknowledged. The alert ends
// (normal) once it is both cleared and acknowledged. A condition that
// returns while its alert is cleared-unacknowledged re-activates that same
// alert. While an alert is active and unacknowledged, each receiver with a
// repeat_interval gets alert.reminder that often; while one waits
// undelivered, no second one is queued for it.
//
// Acknowledgement and oscillation: an acknowledgement holds for the
// severity it was given at (Alert.AckedSeverity, the most severe one
// acknowledged in the occurrence). A change to a severity above it needs
// acknowledging again; falling back and returning to a severity already
// acknowledged in this occurrence does not, so a value swinging around the
// high-high limit asks for one acknowledgement, not one per swing.
// Alert.PeakLevel and PeakSeverity keep the worst level reached, also after
// the alert resolved.
//
// # Alarm management
//
// Alert.State shows a management state instead of the lifecycle state
// (then kept in Alert.Lifecycle) while one applies to an open alert, in
// this order: shelved, suppressed, latched, chattering. Every duty
// officer's action names who (`by`), is logged, is written as an `alert`
// point with fields by and comment, and is committed before the API
// answers.
//
//   - Shelving (Engine.Shelve): for up to Config.MaxShelve the occurrence
//     notifies nothing but alert.shelved and, when the time is up or it is
//     unshelved, alert.unshelved; an alert still active then is
//     unacknowledged again. A shelving that ran out while the gateway was
//     down ends when the store is opened.
//   - Out of service (Engine.SetOutOfService): the device is in maintenance
//     exactly as when its maintenance_point is on (one gateway:maintenance
//     record, alert.suppressed / alert.unsuppressed, conditions judged
//     afresh afterwards) until the time given or BackInService. The record
//     carries the period, so it survives a restart. OutOfServiceDevices
//     lists the devices out of service; sources mark their readings
//     uncertain through Engine.OutOfService.
//   - Decommissioning (Engine.Decommission): a device learnt from traffic
//     that was taken away for good is forgotten by its source (SetForget)
//     and by the engine; its active alerts end with reason decommissioned.
//   - Latching (rule latch: true, or close: manual): a return to normal
//     sends alert.latched and keeps the alert active; Engine.Reset ends it
//     (alert.resolved, reason reset) once the condition is normal.
//   - Chattering: the chatter.count-th firing of one condition within
//     chatter.window makes that occurrence chattering (alert.chattering
//     instead of alert.firing). From then on it stays one occurrence: its
//     condition's returns to normal and back change its status and value,
//     are logged and written as points, and notify nothing — except a
//     severity above the occurrence's peak. Once its condition has stayed
//     in one state for the window (and the device's reading is good), the
//     desk gets alert.firing if it is active or alert.resolved if not.
//   - Flood: the alarms (new occurrences) of the last 10 minutes are
//     counted (Stats.AlarmRate10m); above FloodLimit the built-in
//     gateway:alarm-flood fires, and it resolves at FloodClear or fewer.
//
// An alert's id is AlertID(rule, device, point, start): 20 hex digits of
// SHA-256 over the four. Notification ids (the webhook-id header) are
// "msg_<alert id>_<n>", n counting the alert's notifications.
//
// # Durability
//
// Alert state, the outbox and pending `alert` points live in one bbolt
// file (Options.Path). Every transition is committed together with its
// notifications and its point in one fsync'd transaction before anything
// is sent, so a restart neither re-fires nor forgets an alert, and every
// notification is delivered at least once — with the same webhook-id, on
// which receivers dedup. A restored active alert that the configuration
// no longer raises — its rule, its level or its device is gone — ends with
// alert.resolved, reason rule_changed (a removed device's maintenance
// record with alert.unsuppressed). The outbox does not go through the points spool:
// an InfluxDB backlog never delays an alarm.
//
// A full disk does not stop alarms either. The pipeline still shows the
// engine the polled readings it could not store, and the store keeps
// Options.StoreReserve (default 4 MiB) of disk allocated beyond its data
// and tops it up after it grows (reserve.go), so commits go on when
// something else has taken the last byte; its `alert` points wait in it
// until the pipeline takes them. Should a commit fail all the same, the
// transition stays pending and is retried every round, and — the one
// exception to commit-before-send — its red firing or change goes to the
// receivers at once from memory, with the webhook-id it keeps; once
// committed, what was delivered so is left out of the outbox
// (urgent.go says what this trades away).
//
// # Delivery
//
// Each receiver's outbox is delivered by its own goroutine per occurrence
// (an alert, a group, the heartbeats): the most severe occurrence first,
// then the oldest, up to Options.Concurrency sends at a time, never two of
// one occurrence, whose notifications arrive in the order they were made.
// Indexes in the store (outbox.go) let the scheduler find the next one
// without loading the outbox; what it keeps in memory is bounded (sched.go).
// An occurrence whose send failed backs off on its own while the others go
// on; several different occurrences failing in a row mark the receiver as
// down, probed one send at a time. Notifier errors marked
// gateway.ErrPermanent are dead-lettered and counted, as is a notification
// still failing notify[].give_up_after after its first attempt; anything
// else is retried, across restarts.
//
// notify[].match routes alerts to receivers by severity, rule, kind,
// device, site and device tags (route.go). notify[].group_by holds a
// receiver's notifications in durable group windows and sends each group
// as one alert.group (group.go). notify[].escalate sends an occurrence still
// active and unacknowledged to other receivers after set times, once per
// step, recorded with the alert (escalate.go). notify[].rate is a token
// bucket per receiver; when it is nearly spent a BatchNotifier gets what
// waits as one message (budget.go).
//
// # Concurrency
//
// New does no I/O. Open opens the store and restores the alerts (call it
// first to refuse to start without an alert store; Run calls it
// otherwise). Run runs, until its context ends,
// one evaluation goroutine, one delivery goroutine per receiver (with up to
// Options.Concurrency sends of its own) and one goroutine handing `alert`
// points to the pipeline; it returns after all of them have. Observe is called by the pipeline's committer goroutine: it
// copies what it needs into a bounded queue and returns; when the queue
// is full it waits (back-pressure on the pipeline) and never drops — until
// Run has returned. Observe never calls the pipeline (alert points go
// through their own goroutine), so it cannot deadlock with it. Alerts, Ack
// and the HTTP handlers are safe for concurrent use.
//
// Shut down in data-flow order: stop the sources, then the pipeline (so
// every committed point has been observed), then the engine.
//
// # Example
//
//	eng, err := alerting.New(cfg.Alerting, alerting.Options{
//		Site: "qz-petro-01", Path: filepath.Join(dataDir, "alerts.db"),
//		Devices:   []alerting.Device{{ID: "GD-101", Label: "1号储罐区东侧可燃气体探测器", Kind: "gas_detector",
//			Interval: time.Second, Units: map[string]string{"ch4": "%LEL"}}},
//		Notifiers: map[string]alerting.Notifier{"duty-desk": desk},
//		Logger:    logger,
//	})
//	if err := eng.Open(); err != nil { ... }
//	pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, logger, eng)
//	go func() { done <- eng.Run(ctx, pipe) }()  // before pipe.Run; stop it after the pipeline
//	maps.Copy(api.Routes, eng.Routes())
//	reg.MustRegister(eng.Collector())
package alerting
