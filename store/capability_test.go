package store

import "testing"

func TestParseSemver(t *testing.T) {
	for _, s := range []string{"0.0.0", "1.2.3", "10.20.30"} {
		v, err := ParseSemver(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseSemver(%q) = %v, %v", s, v, err)
		}
	}
	for _, s := range []string{"", "1", "1.2", "1.2.3.4", "1.2.x", "v1.2.3", "1.-2.3", "01.2.3", "1..3", "1.2.3-rc1"} {
		if v, err := ParseSemver(s); err == nil {
			t.Errorf("ParseSemver(%q) = %v, want an error", s, v)
		}
	}
	if MustParseSemver("1.10.0").Compare(MustParseSemver("1.9.99")) != 1 {
		t.Error("1.10.0 must be above 1.9.99")
	}
}

func TestCapabilityFilterCompatible(t *testing.T) {
	r := VersionRange{Min: MustParseSemver("1.0.0"), Max: MustParseSemver("1.9.99")}
	f := &CapabilityFilter{SupportedVersions: []VersionRange{r, {Min: MustParseSemver("3.0.0"), Max: MustParseSemver("3.5.0")}}}
	cases := []struct {
		f      *CapabilityFilter
		pinned string
		want   bool
	}{
		{nil, "99.0.0", true},
		{nil, "garbage", true},
		{f, "", true},
		{f, "1.0.0", true},
		{f, "1.9.99", true},
		{f, "0.9.9", false},
		{f, "2.0.0", false},
		{f, "3.0.0", false}, // only the first range is used
		{f, "garbage", false},
		{&CapabilityFilter{}, "", false},
		{&CapabilityFilter{}, "1.0.0", false},
	}
	for _, c := range cases {
		if got := c.f.Compatible(c.pinned); got != c.want {
			t.Errorf("%+v.Compatible(%q) = %v, want %v", c.f, c.pinned, got, c.want)
		}
	}
}
