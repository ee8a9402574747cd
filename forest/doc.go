// Package forest rates the forest fire danger (森林火险气象等级) from a
// weather station and tells the forest-entry checkpoints the level.
//
// # Rating
//
// The rating follows the national forest fire weather rating standard,
// LY/T 1172: index = A + B + C + E − phenology, where A scores the rating
// day's highest air temperature, B its lowest relative humidity, C the
// consecutive days without rain before it, E its highest wind speed
// (Beaufort classes), and the phenology correction is configured per
// month. The index falls in one of five levels, 1 低 … 5 极高. The tables
// are data (DefaultTables), overridable per table in forest.danger.tables
// for a province's variant; a value is rounded to the observation's
// resolution before it is looked up (see tables.go).
//
// A rating day starts at forest.danger.day_start in the site's time zone.
// Each good reading of the station updates the day (highest temperature
// and wind, lowest humidity, rain so far) and rates it. When a day ends
// with readings, its rain moves the dry-day count: ≤ 0.1 mm adds one day,
// ≥ 5 mm resets it to 0, anything between leaves it. A day without any
// reading is unknown and leaves the count as it is. A day that already
// has 5 mm of rain rates C = 0. The day and the count live in
// data_dir/fire-danger.json (written atomically after each rating), so a
// restart continues the same day.
//
// Readings are taken in time order: one not after the latest taken (a
// redelivered or replayed reading, a late one) is not rated again, and one
// stamped more than 10 minutes ahead of the gateway clock is not rated.
//
// A reading counts only when all four mapped points have good values, the
// values are physically possible, and the station's last device_status
// says neither fault nor maintenance. Otherwise the rating freezes at its
// last level — a broken station never passes for calm weather — and the
// station's own stale rule alarms it.
//
// Each rating is a fire_danger point (tags site, station; integer fields
// index, level, a, b, c, e) accepted through the pipeline: spooled, stored
// and seen by the alert engine, whose rules `match: {kind: fire_danger,
// point: level}` alarm the level.
//
// # Voice warnings
//
// When the level changes, a command
//
//	{"cmd":"voice","level":4,"text":"当前森林火险等级为四级（高），严禁携带火种进山","ts":"…"}
//
// is published with QoS 1, retained, to each declared checkpoint's command
// topic; again after every (re)connection to the broker, and at start for
// the level saved before. ts is when the level took effect.
//
// # Concurrency
//
// New does no I/O. Open loads the state; call it before the pipeline
// runs. Observe is called from the pipeline's committer goroutine: it
// rates under a mutex and returns, never calling the pipeline. Run (the
// only goroutine) writes the ratings through its Acceptor, saves the state
// and publishes, until its context ends. Reconnected, Level, DryDays and
// Damaged are safe for concurrent use.
//
// # Example
//
//	d, err := forest.New(cfg.Forest, forest.Options{Site: "bs-forest-01",
//		Location: site.Location(), DataDir: dataDir, Checkpoints: []string{"KK-03"}, Publisher: mq})
//	if err := d.Open(); err != nil { ... }
//	pipe := gateway.NewPipeline(sp, gateway.PipelineOptions{}, logger, engine, d)
//	go d.Run(ctx, pipe) // a source of fire_danger points
package forest
