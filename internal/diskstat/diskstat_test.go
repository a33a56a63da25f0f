package diskstat

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("statfs is read on Linux only")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(t.TempDir()))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if v := mf.GetMetric()[0].GetGauge().GetValue(); v <= 0 {
			t.Errorf("%s = %v, want > 0", mf.GetName(), v)
		}
		got = append(got, mf.GetName())
	}
	if s := strings.Join(got, ","); s != "icn_data_dir_free_bytes,icn_data_dir_size_bytes" {
		t.Errorf("metrics %s", s)
	}
	reg2 := prometheus.NewPedanticRegistry()
	reg2.MustRegister(New("/no/such/dir"))
	if mfs, err := reg2.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("a missing dir gave %d metrics, err %v", len(mfs), err)
	}
}
