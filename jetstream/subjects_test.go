package jetstream

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeTokenExamples(t *testing.T) {
	for in, want := range map[string]string{
		"order-42": "order-42",
		"a.b":      "a=2Eb",
		"*":        "=2A",
		">":        "=3E",
		"a b":      "a=20b",
		"x=y":      "x=3Dy",
		"日":        "=E6=97=A5",
	} {
		if got := EncodeToken(in); got != want {
			t.Errorf("EncodeToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeTokenRejectsGarbage(t *testing.T) {
	for _, bad := range []string{"a.b", "=", "=4", "=ZZ", "a b", "*",
		"nc=2e0", "=41", "a=2d", "=e6=97=a5", "x=3d"} { // not canonical: lower-case hex, escaped plain bytes
		if _, err := DecodeToken(bad); err == nil {
			t.Errorf("DecodeToken(%q) succeeded", bad)
		}
	}
}

// FuzzEncodeToken checks that every string encodes to one safe subject token and
// decodes back to itself.
func FuzzEncodeToken(f *testing.F) {
	for _, s := range []string{"", "a", "a.b.c", "*>", "=3E", "ünï", "\x00\xff", strings.Repeat("é", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := EncodeToken(s)
		for i := 0; i < len(enc); i++ {
			if !plain(enc[i]) && enc[i] != '=' {
				t.Fatalf("EncodeToken(%q) = %q holds %q", s, enc, enc[i])
			}
		}
		dec, err := DecodeToken(enc)
		if err != nil || dec != s {
			t.Fatalf("DecodeToken(EncodeToken(%q)) = %q, %v", s, dec, err)
		}
		if utf8.ValidString(s) && len(s) > 0 && len(s) <= MaxInstanceIDBytes && ValidateInstanceID(s) != nil {
			t.Fatalf("valid id %q rejected", s)
		}
	})
}
