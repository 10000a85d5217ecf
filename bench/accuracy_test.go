//go:build bench

package bench

import (
	"testing"
	"time"
)

func TestAccuracyQuick(t *testing.T) {
	for _, c := range DefaultAccuracyCases() {
		r, err := AccuracyPhases(c, 24*time.Hour, 10)
		if err != nil {
			t.Fatal(err)
		}
		for i, rr := range r.Rails {
			t.Logf("%-34v window %-10v %s exact %.4f Wh measured %.4f Wh err %+.3f %% [%+.3f, %+.3f]", c, r.Window, rr.Rail, rr.ExactWh, rr.MeasuredWh, rr.ErrorPct, r.MinErrorPct[i], r.MaxErrorPct[i])
		}
	}
}
