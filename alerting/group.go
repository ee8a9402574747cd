package alerting

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Grouping (notify[].group_by): a receiver's notifications about alerts
// that share the group_by labels are held back as members of their group
// and sent together as one alert.group notification, group_wait after the
// first member arrived and then at most once every group_interval.
//
// Members are committed with the transition that made them, in the store's
// groups bucket; flushing a group moves its members into one notification
// of the outbox in one transaction. So what waits in a group window
// survives a crash, and each member is sent exactly once.
//
//	groups  receiver → group id → 0   → groupState
//	                            → seq → outMsg (a member)

// TypeGroup is the notification type of grouped notifications: data.group
// names the group (the group_by labels), data.alerts lists the members,
// each an alert as in single notifications with "event" its type.
const TypeGroup = "alert.group"

var bucketGroups = []byte("groups")

// maxGroupMembers bounds one alert.group notification; more members wait
// for the group's next interval.
const maxGroupMembers = 500

// groupState is what a group remembers between flushes.
type groupState struct {
	Key    string            `json:"key"`
	Labels map[string]string `json:"labels"`
	// First is when the oldest member waiting arrived; zero when none waits.
	First time.Time `json:"first,omitzero"`
	// Last is when the group was last sent.
	Last time.Time `json:"last,omitzero"`
}

// due is when the group's waiting members are to be sent: group_wait after
// the first arrived, and not sooner than group_interval after the last
// send. Zero when no member waits.
func (g *groupState) due(wait, interval time.Duration) time.Time {
	if g.First.IsZero() {
		return time.Time{}
	}
	at := g.First.Add(wait)
	if !g.Last.IsZero() && g.Last.Add(interval).After(at) {
		at = g.Last.Add(interval)
	}
	return at
}

// idle reports whether a group with no member waiting can be forgotten.
func (g *groupState) idle(interval time.Duration, now time.Time) bool {
	return g.First.IsZero() && now.Sub(g.Last) >= interval
}

// groupID names a group in the store and in webhook ids.
func groupID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// addMemberTx holds a notification back as a member of a group.
func addMemberTx(tx *bolt.Tx, receiver, key string, labels map[string]string, seq uint64, m *outMsg, at time.Time) error {
	rb, err := tx.Bucket(bucketGroups).CreateBucketIfNotExists([]byte(receiver))
	if err != nil {
		return err
	}
	gb, err := rb.CreateBucketIfNotExists([]byte(groupID(key)))
	if err != nil {
		return err
	}
	var st groupState
	if v := gb.Get(u64(0)); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("decode group state: %w", err)
		}
	} else {
		st = groupState{Key: key, Labels: labels}
	}
	if st.First.IsZero() {
		st.First = at
		v, err := json.Marshal(&st)
		if err != nil {
			return err
		}
		if err := gb.Put(u64(0), v); err != nil {
			return err
		}
	}
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return gb.Put(u64(seq), v)
}

// flushGroups sends, as one alert.group notification each, the groups of
// receiver that are due at now, forgets idle ones, and returns when the
// next group falls due (zero for none) and how many it sent.
func (s *store) flushGroups(receiver string, now time.Time, wait, interval time.Duration) (next time.Time, sent int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketGroups).Bucket([]byte(receiver))
		if rb == nil {
			return nil
		}
		var ids [][]byte
		if err := rb.ForEachBucket(func(k []byte) error { ids = append(ids, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			gb := rb.Bucket(id)
			var st groupState
			if v := gb.Get(u64(0)); v == nil || json.Unmarshal(v, &st) != nil {
				if err := rb.DeleteBucket(id); err != nil { // no state: nothing to send it by
					return err
				}
				continue
			}
			if st.idle(interval, now) {
				if err := rb.DeleteBucket(id); err != nil {
					return err
				}
				continue
			}
			due := st.due(wait, interval)
			if due.IsZero() {
				continue
			}
			if now.Before(due) {
				if next.IsZero() || due.Before(next) {
					next = due
				}
				continue
			}
			var members []outMsg
			var keys [][]byte
			c := gb.Cursor()
			for k, v := c.Seek(u64(1)); k != nil && len(members) < maxGroupMembers; k, v = c.Next() {
				var m outMsg
				if err := json.Unmarshal(v, &m); err == nil {
					members = append(members, m)
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := gb.Delete(k); err != nil {
					return err
				}
			}
			st.Last = now
			st.First = time.Time{}
			if k, _ := gb.Cursor().Seek(u64(1)); k != nil {
				st.First = now // more than one message holds: the rest follow after the interval
				if d := st.due(wait, interval); next.IsZero() || d.Before(next) {
					next = d
				}
			}
			v, err := json.Marshal(&st)
			if err != nil {
				return err
			}
			if err := gb.Put(u64(0), v); err != nil {
				return err
			}
			if len(members) == 0 {
				continue
			}
			seq, err := tx.Bucket(bucketMeta).NextSequence()
			if err != nil {
				return err
			}
			gid := string(id)
			body, sev, err := groupBody(now, st.Labels, members)
			if err != nil {
				return err
			}
			m := outMsg{ID: "msg_group_" + gid + "_" + fmt.Sprint(seq), Type: TypeGroup, Occ: "group:" + gid,
				Body: body, Created: now, Severity: sev}
			if err := enqueueTx(tx, receiver, seq, &m); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("send alert groups: %w", err)
	}
	return next, sent, nil
}

// grouped counts the notifications held in groups, per receiver.
func (s *store) grouped() (map[string]int, error) {
	out := map[string]int{}
	if err := s.db.View(func(tx *bolt.Tx) error { return groupMembers(tx, out) }); err != nil {
		return nil, fmt.Errorf("count group members: %w", err)
	}
	return out, nil
}

func groupMembers(tx *bolt.Tx, into map[string]int) error {
	gs := tx.Bucket(bucketGroups)
	return gs.ForEachBucket(func(r []byte) error {
		rb := gs.Bucket(r)
		return rb.ForEachBucket(func(g []byte) error {
			if n := rb.Bucket(g).Stats().KeyN - 1; n > 0 {
				into[string(r)] += n
			}
			return nil
		})
	})
}

// groupBody renders an alert.group notification of members (single
// notifications, in the order they were made) and returns it with the
// most severe member's severity.
func groupBody(at time.Time, labels map[string]string, members []outMsg) ([]byte, string, error) {
	lb, err := json.Marshal(labels)
	if err != nil {
		return nil, "", err
	}
	size := 96 + len(lb)
	for i := range members {
		size += len(members[i].Body) + 32
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"type":"alert.group","timestamp":`...)
	buf = at.UTC().AppendFormat(append(buf, '"'), time.RFC3339Nano)
	buf = append(buf, `","data":{"group":`...)
	buf = append(buf, lb...)
	buf = append(buf, `,"alerts":[`...)
	sev := ""
	for i := range members {
		m := &members[i]
		data := memberData(m.Body)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"event":`...)
		buf = appendJSONString(buf, m.Type)
		if len(data) > 2 {
			buf = append(buf, ',')
			buf = append(buf, data[1:]...)
		} else {
			buf = append(buf, '}')
		}
		if severityRank(m.Severity) > severityRank(sev) {
			sev = m.Severity
		}
	}
	buf = append(buf, "]}}"...)
	return buf, sev, nil
}

// memberData returns the `data` object of a single notification's body
// ("{}" when it has none, or it is damaged: the group still goes out).
func memberData(body []byte) []byte {
	// The engine writes bodies as {"type":…,"timestamp":…,"data":{…}}: take
	// the object without decoding it (groupBody checks the whole result).
	if i := bytes.Index(body, []byte(`,"data":{`)); i > 0 && bytes.HasSuffix(body, []byte("}}")) &&
		bytes.Count(body[:i], []byte(`"data"`)) == 0 {
		if d := body[i+len(`,"data":`) : len(body)-1]; json.Valid(d) {
			return d
		}
	}
	var p struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &p) != nil || len(p.Data) < 2 || p.Data[0] != '{' {
		return []byte("{}")
	}
	return p.Data
}

func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// queueFor makes the outbox entry of msg, about a, for receiver rc: a
// group member when the receiver groups, else a notification of its own.
// The caller holds e.mu.
func (e *Engine) queueFor(rc *receiver, a *Alert, msg outMsg) queued {
	q := queued{receiver: rc.name, msg: msg}
	if len(rc.pol.groupBy) > 0 {
		q.group, q.labels = groupKey(a, rc.pol.groupBy)
		rc.groupCheck = true
	}
	return q
}

// sendGroups sends the groups that are due; tick calls it after its
// commit, so every member it may hold back is in the store. The caller
// holds e.mu.
func (e *Engine) sendGroups(now time.Time) {
	if e.st == nil {
		return
	}
	for _, rc := range e.receivers {
		if len(rc.pol.groupBy) == 0 || !rc.groupCheck && (rc.groupNext.IsZero() || now.Before(rc.groupNext)) {
			continue
		}
		next, sent, err := e.st.flushGroups(rc.name, now, rc.pol.groupWait, rc.pol.groupInterval)
		if err != nil {
			e.log.Error("send alert groups; retrying", "receiver", rc.name, "err", err)
			continue
		}
		rc.groupCheck, rc.groupNext = false, next
		if sent > 0 {
			wake(rc.wake)
		}
	}
}
