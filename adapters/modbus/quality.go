package modbus

import (
	"strings"

	"github.com/hazardgw/hazardgw/gateway"
)

// pointQ is the quality of one point's reading in a poll.
type pointQ struct {
	q      gateway.Quality
	reason string
}

// qualityPlan is what a device needs to judge its readings: each point's
// range and which points are its fault and maintenance signals.
type qualityPlan struct {
	lo, hi           []float64 // per point; lo > hi when the point has no range
	faultIx, maintIx int       // index of fault_point / maintenance_point, -1 if none
}

// judge sets q[i] to the quality of each decoded value of a poll that
// succeeded and returns the device's quality: a fault makes every other
// reading bad (fault); NaN, infinities and values outside their range are
// bad; maintenance (its maintenance point, or the device taken out of
// service: outOfService) makes the remaining readings uncertain. The fault
// and maintenance points themselves are always good. The device's reason
// is the most telling one: fault, then a bad value, then maintenance.
// maint is what the maintenance point says.
func (qp *qualityPlan) judge(vals []value, q []pointQ, outOfService bool) (dq pointQ, fault, maint bool) {
	fault = qp.faultIx >= 0 && vals[qp.faultIx].b
	maint = qp.maintIx >= 0 && vals[qp.maintIx].b
	uncertain := maint || outOfService
	var firstBad string
	for i := range vals {
		v := &vals[i]
		pq := pointQ{}
		switch {
		case i == qp.faultIx || i == qp.maintIx:
		case fault:
			pq = pointQ{gateway.QualityBad, gateway.ReasonFault}
		case v.bad:
			pq = pointQ{gateway.QualityBad, gateway.ReasonNaN}
		case qp.lo[i] <= qp.hi[i] && (v.f < qp.lo[i] || v.f > qp.hi[i]):
			pq = pointQ{gateway.QualityBad, gateway.ReasonOutOfRange}
		case uncertain:
			pq = pointQ{gateway.QualityUncertain, gateway.ReasonMaintenance}
		}
		if pq.q == gateway.QualityBad && firstBad == "" {
			firstBad = pq.reason
		}
		q[i] = pq
	}
	switch {
	case fault:
		dq = pointQ{gateway.QualityBad, gateway.ReasonFault}
	case firstBad != "":
		dq = pointQ{gateway.QualityBad, firstBad}
	case uncertain:
		dq = pointQ{gateway.QualityUncertain, gateway.ReasonMaintenance}
	}
	return dq, fault, maint
}

// failureReason is the quality reason of a failed poll.
func failureReason(err error) string {
	switch classify(err) {
	case classTimeout:
		return gateway.ReasonNoReply
	case classException:
		return gateway.ReasonException
	}
	return gateway.ReasonIO
}

// badPoints lists the points whose readings are bad for a value of their
// own ("ch4=nan h2s=out_of_range"); "" when there are none. Points bad
// only because of a fault are not listed: the fault says it.
func badPoints(points []pointSpec, q []pointQ) string {
	var b strings.Builder
	for i := range q {
		if q[i].q != gateway.QualityBad || !gateway.BadValue(q[i].reason) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(points[i].name)
		b.WriteByte('=')
		b.WriteString(q[i].reason)
	}
	return b.String()
}
