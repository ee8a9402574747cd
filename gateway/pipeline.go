package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hazardgw/hazardgw/gateway/spool"
	"github.com/hazardgw/hazardgw/internal/logx"
)

// ErrPipelineClosed is returned by Accept once the pipeline has stopped.
var ErrPipelineClosed = errors.New("pipeline closed")

// An Observer sees every batch of points right after it is committed, in
// commit order, from the pipeline's single committer goroutine. Points
// offered asynchronously (polls) are observed even when their commit
// failed, since nobody offers them again. It must not
// block: hand work off to its own bounded queue if it is slow. It must not
// modify the points.
type Observer interface {
	Observe(points []Point)
}

// PipelineOptions configure a Pipeline. Zero values mean defaults.
type PipelineOptions struct {
	// MaxBatch caps how many points one spool transaction commits. Default 10000.
	MaxBatch int
	// Queue is how many Accept calls may wait for the committer before
	// Accept blocks (back-pressure). Default 1024.
	Queue int
	// Linger is how long the committer waits for more points after the
	// first synchronous Accept arrives, so that a stream of them (MQTT
	// messages) shares one fsync. It bounds the extra latency. Points
	// handed over asynchronously (Async: polls) are committed without
	// waiting. Default 2ms; negative disables it.
	Linger time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// PipelineStats are counters since start.
type PipelineStats struct {
	Accepted  int64 // points committed to the spool
	Invalid   int64 // points refused by Accept (Point.Valid false)
	Commits   int64 // spool transactions
	Dropped   int64 // oldest points dropped because the spool was full
	CommitErr int64 // failed transactions
	// Lost counts points of failed transactions that nobody will offer
	// again: those handed over by Async (Modbus polls). A synchronous
	// Accept's caller is told and keeps its points (MQTT retries them).
	Lost int64
}

// Pipeline accepts points from sources and commits them to the spool,
// group-committing whatever arrives while the previous transaction is being
// fsync'd, so that throughput scales with load while latency stays at about
// one fsync. After each commit it notifies the forwarder and the observers.
//
// Accept is safe for concurrent use. Run must be running for Accept to
// complete; it returns when its ctx ends, after answering every Accept that
// it had taken.
type Pipeline struct {
	spool     *spool.Spool
	log       *slog.Logger
	opts      PipelineOptions
	observers []Observer

	reqs    chan *acceptReq
	notify  chan struct{} // capacity 1: "the spool has new entries"
	closeMu sync.RWMutex  // guards done and the Add side of inflight
	done    bool
	// inflight counts Accept calls past the done check, so that Run can keep
	// answering until the last of them has its reply.
	inflight sync.WaitGroup

	accepted, invalid, commits, dropped, commitErr, lost atomic.Int64
	reqPool                                              sync.Pool
	linger                                               *time.Timer // committer goroutine only
	// logs keeps the committer's repeated lines (a failing disk, a full
	// spool: one per commit) to one per 10 s, with a count of the rest.
	logs    *logx.Limiter
	failing bool // the last commit failed; committer goroutine only
}

type acceptReq struct {
	lines  [][]byte
	points []Point
	buf    []byte
	err    chan error
	async  bool // nobody waits on err; the committer recycles the request
	// unstored: points shown to the observers without being committed
	// (see Unstored); async too.
	unstored bool
}

// NewPipeline returns a pipeline committing to sp. It does no I/O.
func NewPipeline(sp *spool.Spool, opts PipelineOptions, logger *slog.Logger, observers ...Observer) *Pipeline {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 10000
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Linger == 0 {
		opts.Linger = 2 * time.Millisecond
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		spool:     sp,
		log:       logger,
		opts:      opts,
		observers: observers,
		reqs:      make(chan *acceptReq, opts.Queue),
		notify:    make(chan struct{}, 1),
		logs:      logx.New(logx.DefaultEvery, opts.Now),
	}
	p.reqPool.New = func() any { return &acceptReq{err: make(chan error, 1)} }
	return p
}

// Notify returns a channel that receives a value after commits (coalesced:
// one pending value at most). The forwarder waits on it.
func (p *Pipeline) Notify() <-chan struct{} { return p.notify }

// Accept commits points to the spool and returns when they are on disk.
// Invalid points (see Point.Valid) are counted and left out; the rest are
// still committed. On error nothing is guaranteed to be committed, and the
// caller must not acknowledge the points upstream.
func (p *Pipeline) Accept(ctx context.Context, points []Point) error {
	return p.accept(ctx, points, false)
}

// Async returns an Acceptor for sources that have nothing to acknowledge
// upstream, such as Modbus polls: its Accept encodes and queues the points
// and returns without waiting for the commit, so that a source polling
// several devices in a row hands them all to one transaction. It still
// blocks when the queue is full. Points are copied: the caller may reuse
// them at once. A failed commit is counted and logged by the pipeline.
func (p *Pipeline) Async() Acceptor {
	return AcceptFunc(func(ctx context.Context, points []Point) error {
		return p.accept(ctx, points, true)
	})
}

// Unstored shows points that could not be stored to the observers, in
// commit order, without committing them: the gateway's own health report
// while the disk is full, so that alerting still hears of it. It does not
// wait for the committer; the points are copied.
func (p *Pipeline) Unstored(ctx context.Context, points []Point) error {
	if len(p.observers) == 0 || len(points) == 0 {
		return nil
	}
	req := p.reqPool.Get().(*acceptReq)
	req.lines, req.buf, req.async, req.unstored = req.lines[:0], req.buf[:0], true, true
	req.points = clonePoints(points, true)
	return p.enqueue(ctx, req)
}

func (p *Pipeline) accept(ctx context.Context, points []Point, async bool) error {
	req := p.reqPool.Get().(*acceptReq)
	req.lines, req.buf, req.points, req.async, req.unstored = req.lines[:0], req.buf[:0], points, async, false
	invalid := 0
	for i := range points {
		if !points[i].Valid() {
			p.invalid.Add(1)
			invalid++
			continue
		}
		start := len(req.buf)
		req.buf = AppendLine(req.buf, &points[i])
		req.lines = append(req.lines, req.buf[start:len(req.buf):len(req.buf)])
	}
	// req.buf may have grown while lines were cut from it: recut them.
	off := 0
	for i, l := range req.lines {
		req.lines[i] = req.buf[off : off+len(l) : off+len(l)]
		off += len(l)
	}
	if len(req.lines) == 0 {
		p.reqPool.Put(req)
		return nil
	}
	// Observers see exactly what was committed, and an async caller may
	// reuse its points as soon as Accept returns.
	if len(p.observers) > 0 && (async || invalid > 0) {
		req.points = clonePoints(points, invalid > 0)
	}
	return p.enqueue(ctx, req)
}

// enqueue hands req to the committer and, unless it is async, waits for
// its answer.
func (p *Pipeline) enqueue(ctx context.Context, req *acceptReq) error {
	async := req.async
	p.closeMu.RLock()
	if p.done {
		p.closeMu.RUnlock()
		req.points = nil
		p.reqPool.Put(req)
		return ErrPipelineClosed
	}
	p.inflight.Add(1)
	p.closeMu.RUnlock()
	defer p.inflight.Done()
	select {
	case p.reqs <- req:
	case <-ctx.Done():
		p.reqPool.Put(req)
		return ctx.Err()
	}
	if async {
		return nil
	}
	// Once taken, the committer always answers, so waiting is bounded by
	// one commit; not waiting would leave req in use by the committer.
	err := <-req.err
	req.points = nil
	p.reqPool.Put(req)
	return err
}

// Run commits accepted points until ctx ends. It then refuses new Accepts,
// commits what was already queued, and returns.
func (p *Pipeline) Run(ctx context.Context) error {
	batch := make([]*acceptReq, 0, 64)
	lines := make([][]byte, 0, p.opts.MaxBatch)
	for {
		var first *acceptReq
		select {
		case first = <-p.reqs:
		case <-ctx.Done():
			p.closeMu.Lock()
			p.done = true
			p.closeMu.Unlock()
			// No new Accept can start. Keep answering the ones in flight
			// until the last has returned.
			idle := make(chan struct{})
			go func() { p.inflight.Wait(); close(idle) }()
			for {
				select {
				case r := <-p.reqs:
					batch, lines = p.collect(r, batch[:0], lines[:0])
					p.commit(batch, lines)
				case <-idle:
					// Async requests may still be queued: commit them too.
					for len(p.reqs) > 0 {
						batch, lines = p.collect(<-p.reqs, batch[:0], lines[:0])
						p.commit(batch, lines)
					}
					return nil
				}
			}
		}
		batch, lines = p.collect(first, batch[:0], lines[:0])
		p.commit(batch, lines)
	}
}

// collect gathers first and whatever is already queued behind it, up to
// MaxBatch lines. While the batch holds a caller waiting for its commit (a
// synchronous Accept: MQTT messages, which come in streams), it also waits
// up to Linger for more, so that they share one fsync. Asynchronous
// hand-overs alone (polls: a link hands over a whole tick at once) are
// committed at once: waiting would cost a wake-up and the latency, and
// whatever arrives during the fsync shares the next commit anyway.
func (p *Pipeline) collect(first *acceptReq, batch []*acceptReq, lines [][]byte) ([]*acceptReq, [][]byte) {
	batch = append(batch, first)
	lines = append(lines, first.lines...)
	waiting := !first.async
	var linger <-chan time.Time
	for len(lines) < p.opts.MaxBatch {
		if linger == nil && waiting && p.opts.Linger > 0 {
			if p.linger == nil {
				p.linger = time.NewTimer(p.opts.Linger)
			} else {
				p.linger.Reset(p.opts.Linger)
			}
			defer p.linger.Stop()
			linger = p.linger.C
		}
		select {
		case r := <-p.reqs:
			batch = append(batch, r)
			lines = append(lines, r.lines...)
			waiting = waiting || !r.async
			continue
		default:
		}
		if linger == nil {
			return batch, lines
		}
		select {
		case r := <-p.reqs:
			batch = append(batch, r)
			lines = append(lines, r.lines...)
			waiting = waiting || !r.async
		case <-linger:
			return batch, lines
		}
	}
	return batch, lines
}

func (p *Pipeline) commit(batch []*acceptReq, lines [][]byte) {
	var dropped int
	var err error
	if len(lines) > 0 { // else only Unstored requests
		dropped, err = p.spool.Append(lines, p.opts.Now())
	}
	if err != nil {
		p.commitErr.Add(1)
		lost := 0
		for _, r := range batch {
			if r.async && !r.unstored {
				lost += len(r.lines)
			}
		}
		p.lost.Add(int64(lost))
		p.failing = true
		if ok, n := p.logs.Allow("commit", logx.Cause(err)); ok {
			args := []any{"points", len(lines), "lost", lost, "err", err}
			if n > 0 {
				args = append(args, "suppressed", n)
			}
			p.log.Error("commit to spool failed; polled points are lost, MQTT messages stay with the broker and are retried", args...)
		}
	} else if len(lines) > 0 {
		p.accepted.Add(int64(len(lines)))
		p.commits.Add(1)
		if p.failing {
			p.failing = false
			p.log.Info("spool commits again", "failed_commits_not_logged", p.logs.Reset("commit"))
		}
		if dropped > 0 {
			p.dropped.Add(int64(dropped))
			if ok, n := p.logs.Allow("dropped", ""); ok {
				args := []any{"dropped", dropped}
				if n > 0 {
					args = append(args, "suppressed", n, "total_dropped", p.dropped.Load())
				}
				p.log.Warn("spool full: dropped oldest points", args...)
			}
		}
	}
	// Polled points whose commit failed are lost to storage, not to the
	// alarms: nobody offers them again, and a gas reading over its limit
	// on a full disk must still raise its alarm. A synchronous caller's
	// points are not observed: it offers them again.
	for _, o := range p.observers {
		for _, r := range batch {
			if err == nil || r.unstored || r.async {
				o.Observe(r.points)
			}
		}
	}
	for _, r := range batch {
		if r.async {
			r.points = nil
			p.reqPool.Put(r)
			continue
		}
		r.err <- err
	}
	if err == nil && len(lines) > 0 {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

// Stats returns counters since start.
func (p *Pipeline) Stats() PipelineStats {
	return PipelineStats{
		Accepted: p.accepted.Load(), Invalid: p.invalid.Load(), Commits: p.commits.Load(),
		Dropped: p.dropped.Load(), CommitErr: p.commitErr.Load(), Lost: p.lost.Load(),
	}
}

// clonePoints copies points deep enough that the caller may reuse its
// slices (strings are immutable and shared), leaving out invalid points if
// validOnly.
func clonePoints(points []Point, validOnly bool) []Point {
	n, m := 0, 0
	for i := range points {
		n += len(points[i].Tags)
		m += len(points[i].Fields)
	}
	tags, fields := make([]Tag, 0, n), make([]Field, 0, m)
	out := make([]Point, 0, len(points))
	for _, pt := range points {
		if validOnly && !pt.Valid() {
			continue
		}
		out = append(out, pt)
		i := len(out) - 1
		t0, f0 := len(tags), len(fields)
		tags = append(tags, pt.Tags...)
		fields = append(fields, pt.Fields...)
		out[i].Tags = tags[t0:len(tags):len(tags)]
		out[i].Fields = fields[f0:len(fields):len(fields)]
	}
	return out
}
