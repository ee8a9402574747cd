package alerting

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox of each receiver is kept in three buckets of the store, all
// written in the same transactions:
//
//	outbox      receiver → seq → outMsg                the notifications
//	outbox_occ  receiver → occ NUL seq → rank          one occurrence's notifications, in order
//	            receiver → occ NUL 0   → prio key      where the occurrence stands in outbox_prio
//	outbox_prio receiver → rank seq → occ              one entry per occurrence with notifications waiting
//
// An occurrence is an alert (its id), a group of grouped notifications,
// or the receiver's heartbeats. rank is 0 for red … 3 for blue, 4 for
// what has no severity; an occurrence ranks as its most severe waiting
// notification and, within a rank, by its oldest one. So the scheduler
// finds the most urgent occurrence by reading outbox_prio from the start,
// and that occurrence's next notification by seeking its prefix in
// outbox_occ, without holding the outbox in memory.
var (
	bucketOcc  = []byte("outbox_occ")
	bucketPrio = []byte("outbox_prio")
)

// rankNone is the rank of notifications without a severity (heartbeats).
const rankNone = 4

// severityToRank orders severities for delivery: red 0 … blue 3.
func severityToRank(s string) byte {
	if r := severityRank(s); r > 0 {
		return byte(4 - r)
	}
	return rankNone
}

// occOf is the occurrence a notification belongs to.
func occOf(m *outMsg) string {
	switch {
	case m.Occ != "":
		return m.Occ
	case m.AlertID != "":
		return m.AlertID
	}
	return m.Type
}

// head is one waiting notification as the scheduler sees it.
type head struct {
	seq uint64
	occ string
	msg outMsg
}

func occKey(occ string, seq uint64) []byte {
	k := make([]byte, 0, len(occ)+9)
	k = append(k, occ...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func prioKey(rank byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{rank}, seq)
}

// outboxBuckets returns (creating them when create is set) the three
// buckets of a receiver; nil when they do not exist.
func outboxBuckets(tx *bolt.Tx, receiver string, create bool) (msgs, occ, prio *bolt.Bucket, err error) {
	get := func(parent []byte) (*bolt.Bucket, error) {
		p := tx.Bucket(parent)
		if create {
			return p.CreateBucketIfNotExists([]byte(receiver))
		}
		return p.Bucket([]byte(receiver)), nil
	}
	if msgs, err = get(bucketOutbox); err != nil || msgs == nil {
		return nil, nil, nil, err
	}
	if occ, err = get(bucketOcc); err != nil || occ == nil {
		return nil, nil, nil, err
	}
	if prio, err = get(bucketPrio); err != nil || prio == nil {
		return nil, nil, nil, err
	}
	return msgs, occ, prio, nil
}

// enqueueTx adds m at seq to receiver's outbox and its indexes.
func enqueueTx(tx *bolt.Tx, receiver string, seq uint64, m *outMsg) error {
	msgs, occB, prio, err := outboxBuckets(tx, receiver, true)
	if err != nil {
		return err
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := msgs.Put(u64(seq), v); err != nil {
		return err
	}
	return indexTx(occB, prio, occOf(m), severityToRank(m.Severity), seq)
}

// indexTx records a notification of occ in the indexes.
func indexTx(occB, prio *bolt.Bucket, occ string, rank byte, seq uint64) error {
	if err := occB.Put(occKey(occ, seq), []byte{rank}); err != nil {
		return err
	}
	cur := occB.Get(occKey(occ, 0))
	switch {
	case cur == nil:
		pk := prioKey(rank, seq)
		if err := prio.Put(pk, []byte(occ)); err != nil {
			return err
		}
		return occB.Put(occKey(occ, 0), pk)
	case rank < cur[0]:
		// A more severe notification makes its whole occurrence more urgent;
		// it keeps its place by age.
		pk := append([]byte{rank}, cur[1:]...)
		if err := prio.Delete(cur); err != nil {
			return err
		}
		if err := prio.Put(pk, []byte(occ)); err != nil {
			return err
		}
		return occB.Put(occKey(occ, 0), pk)
	}
	return nil
}

// removeTx removes the notification at seq of occ from receiver's outbox
// and re-ranks its occurrence.
func removeTx(tx *bolt.Tx, receiver, occ string, seq uint64) error {
	msgs, occB, prio, err := outboxBuckets(tx, receiver, false)
	if err != nil || msgs == nil {
		return err
	}
	if err := msgs.Delete(u64(seq)); err != nil {
		return err
	}
	if err := occB.Delete(occKey(occ, seq)); err != nil {
		return err
	}
	cur := occB.Get(occKey(occ, 0))
	if cur != nil {
		if err := prio.Delete(cur); err != nil {
			return err
		}
	}
	// The occurrence's new rank: its most severe waiting notification
	// (looked at up to a bound), placed by its oldest.
	prefix := append([]byte(occ), 0)
	c := occB.Cursor()
	rank, first, n := byte(255), uint64(0), 0
	for k, v := c.Seek(occKey(occ, 1)); k != nil && bytes.HasPrefix(k, prefix) && n < 64; k, v = c.Next() {
		if first == 0 {
			first = binary.BigEndian.Uint64(k[len(prefix):])
		}
		if len(v) == 1 && v[0] < rank {
			rank = v[0]
		}
		n++
	}
	if first == 0 {
		return occB.Delete(occKey(occ, 0))
	}
	pk := prioKey(rank, first)
	if err := prio.Put(pk, []byte(occ)); err != nil {
		return err
	}
	return occB.Put(occKey(occ, 0), pk)
}

// take returns what to send next to receiver: the most urgent
// occurrences for which skip is false, up to maxOcc of them, and of each
// its oldest notification — or, with all, its waiting notifications in
// order, up to maxMsgs in total.
//
// An index entry without its notification (left by an older gateway that
// did not keep the indexes) is removed; a notification that cannot be
// decoded is moved to the dead letters: neither can stall the receiver.
func (s *store) take(receiver string, maxOcc, maxMsgs int, all bool, skip func(occ string) bool) ([]head, error) {
	for {
		out, cleared, err := s.takeOnce(receiver, maxOcc, maxMsgs, all, skip)
		if err != nil || len(out) > 0 || !cleared {
			return out, err
		}
	}
}

// takeOnce is one try of take; cleared reports damage it cleared away.
func (s *store) takeOnce(receiver string, maxOcc, maxMsgs int, all bool, skip func(occ string) bool) (out []head, cleared bool, err error) {
	var stale, bad []head
	err = s.db.View(func(tx *bolt.Tx) error {
		msgs, occB, prio, err := outboxBuckets(tx, receiver, false)
		if err != nil || msgs == nil {
			return err
		}
		nOcc := 0
		pc := prio.Cursor()
		for pk, pv := pc.First(); pk != nil && nOcc < maxOcc && len(out) < maxMsgs; pk, pv = pc.Next() {
			occ := string(pv)
			if skip != nil && skip(occ) {
				continue
			}
			nOcc++
			prefix := append([]byte(occ), 0)
			oc := occB.Cursor()
			for k, _ := oc.Seek(occKey(occ, 1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < maxMsgs; k, _ = oc.Next() {
				seq := binary.BigEndian.Uint64(k[len(prefix):])
				v := msgs.Get(u64(seq))
				h := head{seq: seq, occ: occ}
				if v == nil {
					stale = append(stale, h)
					continue
				}
				if err := json.Unmarshal(v, &h.msg); err != nil {
					raw, _ := json.Marshal(string(v)) // kept as a string: it is not JSON
					h.msg = outMsg{ID: fmt.Sprintf("seq_%d", seq), Body: raw}
					bad = append(bad, h)
					continue
				}
				out = append(out, h)
				if !all {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read outbox: %w", err)
	}
	if len(stale) > 0 {
		if err := s.delivered(receiver, stale); err != nil {
			return nil, false, err
		}
	}
	for _, h := range bad {
		if err := s.deadLetter(receiver, h, "cannot decode the stored notification", time.Now()); err != nil {
			return nil, false, err
		}
	}
	return out, len(stale)+len(bad) > 0, nil
}

// delivered removes delivered notifications from the outbox.
func (s *store) delivered(receiver string, hs []head) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, h := range hs {
			if err := removeTx(tx, receiver, h.occ, h.seq); err != nil {
				return err
			}
		}
		return nil
	})
	s.topUp()
	if err != nil {
		return fmt.Errorf("remove delivered notification: %w", err)
	}
	return nil
}

// tried records when notifications were first attempted (for
// give_up_after); those that already have a time keep it.
func (s *store) tried(receiver string, hs []head, at time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(receiver))
		if b == nil {
			return nil
		}
		for _, h := range hs {
			if !h.msg.FirstTry.IsZero() || b.Get(u64(h.seq)) == nil {
				continue
			}
			m := h.msg
			m.FirstTry = at
			v, err := json.Marshal(&m)
			if err != nil {
				return err
			}
			if err := b.Put(u64(h.seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record notification attempt: %w", err)
	}
	return nil
}

// deadLetter moves a notification from the outbox to the receiver's dead
// letters, keeping the newest maxDeadPerRecv.
func (s *store) deadLetter(receiver string, h head, reason string, at time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := removeTx(tx, receiver, h.occ, h.seq); err != nil {
			return err
		}
		d, err := tx.Bucket(bucketDead).CreateBucketIfNotExists([]byte(receiver))
		if err != nil {
			return err
		}
		v, err := json.Marshal(deadMsg{outMsg: h.msg, Reason: reason, At: at})
		if err != nil {
			return err
		}
		if err := d.Put(u64(h.seq), v); err != nil {
			return err
		}
		for n := d.Stats().KeyN; n > maxDeadPerRecv; n-- {
			k, _ := d.Cursor().First()
			if err := d.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead-letter notification: %w", err)
	}
	return nil
}

// indexOutbox builds the indexes of outboxes written before they existed
// (an older alerts.db): every receiver with notifications and no index.
func indexOutbox(tx *bolt.Tx) error {
	ob := tx.Bucket(bucketOutbox)
	var todo [][]byte
	err := ob.ForEachBucket(func(k []byte) error {
		if tx.Bucket(bucketOcc).Bucket(k) == nil && ob.Bucket(k).Stats().KeyN > 0 {
			todo = append(todo, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range todo {
		_, occB, prio, err := outboxBuckets(tx, string(name), true)
		if err != nil {
			return err
		}
		err = ob.Bucket(name).ForEach(func(k, v []byte) error {
			var m outMsg
			if err := json.Unmarshal(v, &m); err != nil {
				return nil // undecodable: take reports it
			}
			if m.Severity == "" {
				var p struct {
					Data struct {
						Severity string `json:"severity"`
					} `json:"data"`
				}
				_ = json.Unmarshal(m.Body, &p)
				m.Severity = p.Data.Severity
			}
			return indexTx(occB, prio, occOf(&m), severityToRank(m.Severity), binary.BigEndian.Uint64(k))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
