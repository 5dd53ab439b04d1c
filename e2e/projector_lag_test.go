package e2e

import (
	"testing"
)

// ProjectorLag reports the history stream's last sequence and, once the views have
// caught up (a metrics read waits for that), no lag.
func TestProjectorLagCaughtUp(t *testing.T) {
	e := newStoreEnv(t)
	ctx := ctxT(t)
	e.createInstance("lag-1")
	e.createInstance("lag-2")
	_, err := e.c.SystemMetrics(ctx)
	must(t, err)
	l, err := e.c.ProjectorLag(ctx)
	must(t, err)
	if l.LastSeq < 2 || l.AppliedSeq != l.LastSeq || l.Records != 0 || l.Behind != 0 {
		t.Fatalf("lag after catching up: %+v, want applied = last >= 2, no records or time behind", l)
	}
}
