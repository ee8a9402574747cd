package gateway

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/logx"
)

// ForwarderOptions configure a Forwarder. Zero values mean defaults.
type ForwarderOptions struct {
	BatchSize     int           // points per Sink.Write; default 5000
	BatchBytes    int           // line bytes per Sink.Write (at least one point); default 1 MiB
	FlushInterval time.Duration // longest a point waits for a fuller batch; default 1s
	MinBackoff    time.Duration // first retry delay; default 500ms
	MaxBackoff    time.Duration // retry delay cap; default 30s
	// InFlight is how many batches may be written at once; default 1.
	// More than 1 needs a Sink whose Write may be called concurrently.
	InFlight int
	Now      func() time.Time
}

// ForwarderStats are counters since start.
type ForwarderStats struct {
	Written      int64 // points stored by the sink
	Batches      int64 // successful writes
	Retries      int64 // failed writes that will be retried
	DeadLettered int64 // points the sink rejected for good (counted in points, never batches)
	Failing      bool  // the last write failed
	// LastWrite is when the sink last stored a batch (zero: not since start).
	LastWrite time.Time
}

// Forwarder drains the spool into a Sink, oldest first, deleting entries
// only after the sink stored them. Transient failures are retried with
// capped exponential backoff (or the delay the sink asked for). A batch the
// sink refuses as too large (ErrTooLarge) or as a whole (ErrPermanent) is
// split in halves until the parts fit or a single point is left, and only
// such single points are dead-lettered, so they never block newer points; on
// a partial write (PartialWriteError) only the rejected points are.
// Replays after a crash rewrite the same points with the same timestamps,
// which InfluxDB treats as the same points: no duplicates.
//
// A batch is at most BatchSize points and BatchBytes of lines, read into
// buffers reused batch after batch: the lines handed to Sink.Write are
// valid only until it returns.
//
// With InFlight n > 1, up to n consecutive batches are read at once (at
// most n × BatchBytes of lines) and written concurrently, so that InFlight
// requests overlap; they are settled in spool order: a batch is
// acknowledged only once every batch before it is settled, and the first
// batch that fails transiently stops the round, leaving it and every later
// batch in the spool — a later batch that was stored is written again on
// the retry, which InfluxDB stores as the same points.
//
// One goroutine runs a Forwarder (Run, then optionally Drain); the writes
// of a round run on goroutines of their own that end before it returns.
type Forwarder struct {
	spool  *spool.Spool
	sink   Sink
	notify <-chan struct{}
	log    *slog.Logger
	opts   ForwarderOptions

	written, batches, retries, dead atomic.Int64
	lastWrite                       atomic.Int64 // Unix ns of the last write the sink took (in whole or in part)
	failing                         atomic.Bool
	lines                           [][]byte
	// cuts and errs: the batches of a round (end indexes into entries) and
	// their write results, reused round after round.
	cuts []int
	errs []error
	// entries and buf hold the batch read from the spool, reused batch
	// after batch (Run's goroutine only): a drain does not allocate a
	// batch's worth of memory per write.
	entries []spool.Entry
	buf     []byte
	limit   int // batch size after a 413, 0 for BatchSize; Run's goroutine only
	// lastFull: when a full batch was last written (a backlog was being
	// written); lastCommit: when a commit last woke Run. Run's goroutine only.
	lastFull   time.Time
	lastCommit time.Time
	limiter    *logx.Limiter
}

// NewForwarder returns a forwarder from sp to sink that wakes on notify
// (Pipeline.Notify). It does no I/O.
func NewForwarder(sp *spool.Spool, sink Sink, notify <-chan struct{}, opts ForwarderOptions, logger *slog.Logger) *Forwarder {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1 << 20
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{spool: sp, sink: sink, notify: notify, log: logger, opts: opts,
		limiter: logx.New(logx.DefaultEvery, opts.Now)}
}

// Run forwards until ctx ends. Points still in the spool then stay there
// (see Drain); nothing is lost either way.
func (f *Forwarder) Run(ctx context.Context) error {
	failures := 0
	for {
		wait, ok := f.due()
		if !ok {
			// Commits wake this goroutine: one may complete a batch, and
			// their pause ends a backlog (see due).
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-f.notify:
				f.lastCommit = f.opts.Now()
			case <-t.C:
			}
			t.Stop()
			continue
		}
		n, err := f.writeBatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			if failures > 0 {
				f.log.Info("sink recovered", "after_failures", failures)
			}
			failures = 0
			continue
		}
		failures++
		f.retries.Add(1)
		delay := Backoff(failures, f.opts.MinBackoff, f.opts.MaxBackoff, rand.Float64())
		if ra, ok := RetryAfter(err); ok {
			// The server knows its load better than our backoff does; the
			// ceiling only guards against an absurd header.
			delay = min(max(ra, delay), maxRetryAfter)
		}
		if failures == 1 || failures%20 == 0 { // log on change, then rarely
			f.log.Warn("sink write failed; will retry", "points", n, "failures", failures, "retry_in", delay, "err", err)
		}
		if !sleep(ctx, nil, delay) {
			return nil
		}
	}
}

// Drain writes batches until the spool is empty, ctx ends, or a write fails.
// It is meant for shutdown, with a ctx that bounds how long it may take.
func (f *Forwarder) Drain(ctx context.Context) error {
	for f.spool.Stats().Count > 0 {
		if _, err := f.writeBatch(ctx); err != nil {
			return err
		}
	}
	return nil
}

// due says whether a batch should be written now, or how long to wait: a
// full batch (BatchSize points or BatchBytes) at once, a partial one once
// its oldest point has waited FlushInterval — or, at the end of a backlog
// (a full batch was written less than FlushInterval ago), once commits
// have paused for drainQuiet: the flush interval is there to gather a
// trickle of points into few requests, not to hold back the tail of a
// backlog. The tail may come in pieces (ingest pausing for a moment near
// the end, as on a busy machine): each is written once commits pause,
// until a FlushInterval has passed since the last full batch.
func (f *Forwarder) due() (time.Duration, bool) {
	st := f.spool.Stats()
	if st.Count == 0 {
		return time.Hour, false // until woken by a commit
	}
	if st.Count >= int64(f.opts.BatchSize) || st.Bytes >= int64(f.opts.BatchBytes) {
		return 0, true
	}
	now := f.opts.Now()
	wait := f.opts.FlushInterval - now.Sub(st.Oldest)
	if wait <= 0 {
		return 0, true
	}
	if !f.lastFull.IsZero() && now.Sub(f.lastFull) < f.opts.FlushInterval {
		quiet := min(drainQuiet, f.opts.FlushInterval) - now.Sub(f.lastCommit)
		if quiet <= 0 {
			return 0, true
		}
		wait = min(wait, quiet)
	}
	return wait, false
}

// drainQuiet is how long commits must pause, at the end of a backlog,
// before a partial batch is written without waiting for FlushInterval.
const drainQuiet = 20 * time.Millisecond

// writeBatch writes the oldest batches (up to InFlight of them at once, see
// Forwarder) and settles them: deleted once stored, dead-lettered point by
// point when rejected for good, kept on a transient error. A batch the sink
// finds too large, or rejects as a whole, is split in halves until each part
// is stored or is a single rejected point, so that one bad or oversized
// point never takes its neighbours with it. It returns how many points it
// read.
func (f *Forwarder) writeBatch(ctx context.Context) (int, error) {
	size := f.opts.BatchSize
	n := f.opts.InFlight
	if f.limit > 0 {
		// After a 413, one cautious batch at a time until sizes grow back.
		size, n = f.limit, 1
	}
	entries, buf, err := f.spool.ReadInto(f.entries, f.buf, size*n, f.opts.BatchBytes*n)
	f.entries, f.buf = entries, buf
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	f.lines = f.lines[:0]
	for _, e := range entries {
		f.lines = append(f.lines, e.Line)
	}
	f.cuts = cutBatches(f.cuts[:0], f.lines, size, f.opts.BatchBytes, n)
	written := f.cuts[len(f.cuts)-1]
	if len(f.cuts) == 1 {
		err = f.settle(ctx, entries, f.lines)
	} else {
		err = f.settleRound(ctx, entries)
	}
	clear(f.lines) // the lines alias buf: nothing else may keep them
	if err == nil {
		// A batch cut by a limit means a backlog.
		lineBytes := 0
		for _, e := range entries[:written] {
			lineBytes += len(e.Line)
		}
		if written >= size || lineBytes >= f.opts.BatchBytes/2 {
			f.lastFull = f.opts.Now()
		}
	}
	return written, err
}

// cutBatches appends to cuts the end indexes of up to n consecutive batches
// of lines, each at most size lines and maxBytes of lines (but at least one
// line); lines past the n-th batch are left out.
func cutBatches(cuts []int, lines [][]byte, size, maxBytes, n int) []int {
	count, bytes := 0, 0
	for i, l := range lines {
		if count > 0 && (count >= size || bytes+len(l) > maxBytes) {
			cuts = append(cuts, i)
			if len(cuts) == n {
				return cuts
			}
			count, bytes = 0, 0
		}
		count++
		bytes += len(l)
	}
	return append(cuts, len(lines))
}

// settleRound writes the batches f.cuts of entries concurrently, then settles
// them in order (see Forwarder): stored batches are acknowledged together,
// up to the first one that failed, which is settled (split, dead-lettered)
// or, when it failed transiently, stops the round.
func (f *Forwarder) settleRound(ctx context.Context, entries []spool.Entry) error {
	f.errs = append(f.errs[:0], make([]error, len(f.cuts))...)
	var wg sync.WaitGroup
	start := 0
	for i, end := range f.cuts {
		lines := f.lines[start:end]
		if i == 0 {
			start = end
			continue // written on this goroutine, below
		}
		wg.Go(func() { f.errs[i] = f.sink.Write(ctx, lines) })
		start = end
	}
	f.errs[0] = f.sink.Write(ctx, f.lines[:f.cuts[0]])
	wg.Wait()
	defer clear(f.errs)

	var stored uint64 // acknowledged once the next failed batch (or the end) is reached
	pending := false
	start = 0
	for i, end := range f.cuts {
		batch := entries[start:end]
		start = end
		if f.errs[i] == nil {
			f.stored(batch)
			stored, pending = batch[len(batch)-1].Seq, true
			continue
		}
		if pending {
			// The spool acknowledges prefixes: the stored batches
			// before this one first.
			if err := f.spool.Delete(stored); err != nil {
				return err
			}
			pending = false
		}
		if err := f.settleErr(ctx, batch, f.lines[end-len(batch):end], f.errs[i]); err != nil {
			return err
		}
	}
	if pending {
		return f.spool.Delete(stored)
	}
	return nil
}

// settle writes one batch and settles it.
func (f *Forwarder) settle(ctx context.Context, entries []spool.Entry, lines [][]byte) error {
	if err := f.sink.Write(ctx, lines); err != nil {
		return f.settleErr(ctx, entries, lines, err)
	}
	f.stored(entries)
	return f.spool.Delete(entries[len(entries)-1].Seq)
}

// stored counts a batch the sink stored (the caller acknowledges it).
func (f *Forwarder) stored(entries []spool.Entry) {
	f.failing.Store(false)
	f.written.Add(int64(len(entries)))
	f.batches.Add(1)
	f.lastWrite.Store(time.Now().UnixNano())
	if f.limit > 0 && len(entries) >= f.limit {
		// The size that fitted may be too cautious now: grow back.
		f.limit *= 2
		if f.limit >= f.opts.BatchSize {
			f.limit = 0
		}
	}
}

// settleErr settles a batch whose write failed with err: split, partly or
// wholly dead-lettered, or kept (a transient error, returned).
func (f *Forwarder) settleErr(ctx context.Context, entries []spool.Entry, lines [][]byte, err error) error {
	last := entries[len(entries)-1].Seq
	var pw *PartialWriteError
	switch {
	case errors.As(err, &pw):
		f.failing.Store(false)
		return f.settlePartial(entries, pw)
	case len(entries) > 1 && (errors.Is(err, ErrTooLarge) || IsPermanent(err)):
		if errors.Is(err, ErrTooLarge) {
			f.limit = len(entries) / 2
		}
		half := len(entries) / 2
		if err := f.settle(ctx, entries[:half], lines[:half]); err != nil {
			return err
		}
		return f.settle(ctx, entries[half:], lines[half:])
	case errors.Is(err, ErrTooLarge) || IsPermanent(err):
		f.failing.Store(false)
		f.dead.Add(1)
		f.logDead(1, err)
		return f.spool.DeadLetter(last)
	default:
		f.failing.Store(true)
		return err
	}
}

// settlePartial removes a batch the sink stored in part: the rejected lines
// it identified go to the dead-letter bucket, the others are deleted (they
// are stored, or rejected without being identified, which only the counter
// then records).
func (f *Forwarder) settlePartial(entries []spool.Entry, pw *PartialWriteError) error {
	bad := make(map[int]bool, len(pw.Lines))
	for _, i := range pw.Lines {
		if i >= 0 && i < len(entries) {
			bad[i] = true
		}
	}
	rejected := min(max(pw.Rejected, len(bad)), len(entries))
	f.dead.Add(int64(rejected))
	f.written.Add(int64(len(entries) - rejected))
	f.batches.Add(1)
	f.lastWrite.Store(time.Now().UnixNano())
	f.logDead(rejected, pw)
	// The spool removes prefixes: settle runs of equal fate in order.
	for i := 0; i < len(entries); {
		j := i
		for j+1 < len(entries) && bad[j+1] == bad[i] {
			j++
		}
		var err error
		if bad[i] {
			err = f.spool.DeadLetter(entries[j].Seq)
		} else {
			err = f.spool.Delete(entries[j].Seq)
		}
		if err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

func (f *Forwarder) logDead(points int, err error) {
	if ok, n := f.limiter.Allow("dead", err.Error()); ok {
		f.log.Error("sink rejected points; dead-lettered", "points", points, "suppressed", n, "err", err)
	}
}

// Stats returns counters since start.
func (f *Forwarder) Stats() ForwarderStats {
	return ForwarderStats{
		Written: f.written.Load(), Batches: f.batches.Load(), Retries: f.retries.Load(),
		DeadLettered: f.dead.Load(), Failing: f.failing.Load(), LastWrite: unixNano(f.lastWrite.Load()),
	}
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// maxRetryAfter bounds a server-requested delay.
const maxRetryAfter = 10 * time.Minute

// Backoff returns the delay before retry number attempt (1-based): min
// doubled per attempt, capped at max, with up to 25% jitter subtracted
// (jitter in [0,1)) so that many gateways don't retry in step.
func Backoff(attempt int, min, max time.Duration, jitter float64) time.Duration {
	d := min
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d - time.Duration(float64(d)*0.25*jitter)
}

// sleep waits for d, a value on wake (if non-nil), or ctx; false if ctx ended.
func sleep(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	case <-t.C:
		return true
	}
}
