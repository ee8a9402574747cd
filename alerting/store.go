package alerting

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hazardgw/hazardgw/gateway"
)

// The store keeps, in one bbolt file (gateway.data_dir/alerts.db):
//
//	alerts  id → alertRec (JSON): open alerts and those ended within the retention
//	outbox  receiver → seq → outMsg: notifications not yet delivered,
//	        with the indexes outbox_occ and outbox_prio (see outbox.go)
//	groups  receiver → group → members held back by group_by (see group.go)
//	dead    receiver → seq → deadMsg: notifications a receiver refused for good
//	points  seq → gateway.Point: `alert` points not yet handed to the pipeline
//	meta    the sequence shared by outbox and points (NextSequence),
//	        camera_events_seen: the ids of recent camera events (seenSet), and
//	        camera_sightings: each located camera's latest bearing with its
//	        event time (JSON), so that triangulation survives a restart
//
// A transition is committed with its notifications and its point in one
// fsync'd transaction, before anything is sent: a crash either loses the
// whole transition (the next sample redoes it) or none of it.
var (
	bucketAlerts = []byte("alerts")
	bucketOutbox = []byte("outbox")
	bucketDead   = []byte("dead")
	bucketPoints = []byte("points")
	bucketMeta   = []byte("meta")
)

// Bounds of what the store keeps of the past.
const (
	// maxEnded bounds the ended alerts kept for ?state=all within the
	// retention, so that an alarm flood cannot exhaust memory or disk. A
	// healthy site ends a few thousand alerts a month.
	maxEnded       = 50000
	maxDeadPerRecv = 1000 // dead letters kept per receiver
)

// alertRec is an alert with what the engine needs to carry it on after a
// restart.
type alertRec struct {
	Alert
	// Seq counts the notifications made for this alert (webhook ids).
	Seq int `json:"seq"`
	// Notified is, per receiver, when it was last sent a firing, change or
	// reminder: reminders count from there.
	Notified map[string]time.Time `json:"notified,omitempty"`
	// AutoResolveAt is when an event alert resolves without a new event.
	AutoResolveAt time.Time `json:"auto_resolve_at,omitzero"`
	// filed: it ended and is listed in Engine.ended (not stored).
	filed bool
	// Escalated lists the escalation steps taken ("receiver#step").
	Escalated map[string]bool `json:"escalated,omitempty"`
	// Configured: its device was in the configuration when it was raised.
	// A configuration without that device ends it (rule_changed) instead
	// of leaving it active with nothing left to clear it.
	Configured bool `json:"configured,omitempty"`
}

// outMsg is one notification waiting in the outbox.
type outMsg struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	AlertID string          `json:"alert"`
	Body    json.RawMessage `json:"body"`
	Created time.Time       `json:"created"`
	// Severity ranks the notification for delivery (most severe first).
	Severity string `json:"severity,omitempty"`
	// Occ is the occurrence it belongs to when that is not its alert (a
	// group); notifications of one occurrence are delivered in order.
	Occ string `json:"occ,omitempty"`
	// FirstTry is when delivery was first attempted and failed
	// (notify[].give_up_after counts from it).
	FirstTry time.Time `json:"first_try,omitzero"`
}

type deadMsg struct {
	outMsg
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// changeSet is what one evaluation round commits at once.
type changeSet struct {
	alerts []*alertRec
	msgs   []queued
	points []gateway.Point
	drop   []string // ended alerts to forget
	// seen, when set, is the seen camera event ids, which changed: encoded
	// once per commit, not once per event (a backlog of camera events would
	// otherwise encode the whole set for each one).
	seen *seenSet
	// sights, when set, is every camera's latest bearing, which changed.
	sights map[string]sighting
}

type queued struct {
	receiver string
	msg      outMsg
	// group, when set, holds the notification back as a member of this
	// group of the receiver (notify[].group_by) instead of queueing it.
	group  string
	labels map[string]string
}

func (c *changeSet) empty() bool {
	return len(c.alerts) == 0 && len(c.msgs) == 0 && len(c.points) == 0 && len(c.drop) == 0 && c.seen == nil && c.sights == nil
}

func (c *changeSet) reset() {
	c.alerts, c.msgs, c.points, c.drop = c.alerts[:0], c.msgs[:0], c.points[:0], c.drop[:0]
	c.seen, c.sights = nil, nil
}

type store struct {
	db  *bolt.DB
	res *reserve // nil: no reserve kept
}

// keepReserve makes the store keep size bytes of disk allocated beyond
// its data (see DefaultStoreReserve) and allocates them now.
func (s *store) keepReserve(size int64, log *slog.Logger) error {
	r, err := newReserve(s.db.Path(), size, log)
	if err != nil {
		return err
	}
	s.res = r
	s.topUp()
	return nil
}

// topUp tops the reserve up after a transaction.
func (s *store) topUp() {
	if s.res != nil {
		s.res.ensure(used(s.db))
	}
}

// reserveLeft is how many bytes of the reserve are left, -1 without one.
func (s *store) reserveLeft() int64 {
	if s.res == nil {
		return -1
	}
	return s.res.left(used(s.db))
}

func openStore(path string) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open alert store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAlerts, bucketOutbox, bucketDead, bucketPoints, bucketMeta, bucketOcc, bucketPrio, bucketGroups} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return indexOutbox(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init alert store %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error {
	if s.res != nil {
		s.res.close()
	}
	return s.db.Close()
}

// load returns every stored alert.
func (s *store) load() ([]*alertRec, error) {
	var out []*alertRec
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var r alertRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode alert %s: %w", k, err)
			}
			out = append(out, &r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	return out, nil
}

// commit writes a change set in one transaction.
func (s *store) commit(c *changeSet) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		alerts := tx.Bucket(bucketAlerts)
		for _, a := range c.alerts {
			v, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if err := alerts.Put([]byte(a.ID), v); err != nil {
				return err
			}
		}
		for _, id := range c.drop {
			if err := alerts.Delete([]byte(id)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if c.seen != nil {
			if err := meta.Put(keySeen, c.seen.encode()); err != nil {
				return err
			}
		}
		if c.sights != nil {
			v, err := encodeSights(c.sights)
			if err != nil {
				return err
			}
			if err := meta.Put(keySights, v); err != nil {
				return err
			}
		}
		for _, q := range c.msgs {
			seq, err := meta.NextSequence()
			if err != nil {
				return err
			}
			if q.group != "" {
				if err := addMemberTx(tx, q.receiver, q.group, q.labels, seq, &q.msg, q.msg.Created); err != nil {
					return err
				}
				continue
			}
			if err := enqueueTx(tx, q.receiver, seq, &q.msg); err != nil {
				return err
			}
		}
		points := tx.Bucket(bucketPoints)
		for i := range c.points {
			seq, err := meta.NextSequence()
			if err != nil {
				return err
			}
			v, err := json.Marshal(&c.points[i])
			if err != nil {
				return err
			}
			if err := points.Put(u64(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	s.topUp() // also after a failure: space may be back
	if err != nil {
		return fmt.Errorf("commit alert transitions: %w", err)
	}
	return nil
}

// pendingPoints returns up to max `alert` points waiting for the pipeline.
func (s *store) pendingPoints(max int) (last uint64, pts []gateway.Point, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPoints).Cursor()
		for k, v := c.First(); k != nil && len(pts) < max; k, v = c.Next() {
			var p gateway.Point
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			pts = append(pts, p)
			last = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("read alert points: %w", err)
	}
	return last, pts, nil
}

// pointsWritten removes the points up to seq through.
func (s *store) pointsWritten(through uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPoints).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= through; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	s.topUp()
	if err != nil {
		return fmt.Errorf("remove written alert points: %w", err)
	}
	return nil
}

// depth counts the notifications waiting per receiver and the dead
// letters kept, and the points waiting.
func (s *store) depth() (outbox, dead map[string]int, points int, err error) {
	outbox, dead = map[string]int{}, map[string]int{}
	err = s.db.View(func(tx *bolt.Tx) error {
		count := func(parent []byte, into map[string]int) error {
			return tx.Bucket(parent).ForEachBucket(func(k []byte) error {
				into[string(k)] = tx.Bucket(parent).Bucket(k).Stats().KeyN
				return nil
			})
		}
		if err := count(bucketOutbox, outbox); err != nil {
			return err
		}
		if err := count(bucketDead, dead); err != nil {
			return err
		}
		points = tx.Bucket(bucketPoints).Stats().KeyN
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("count outbox: %w", err)
	}
	return outbox, dead, points, nil
}

// errStoreClosed is returned by the engine's API before the store is open.
var errStoreClosed = errors.New("alert store not open")

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }
