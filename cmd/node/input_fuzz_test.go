package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseJSON: the CLI's JSON inputs (start --input, raise's event data) accept
// exactly the valid JSON documents the inbox accepts, passed on byte for byte; any
// other text is a usage error that names the input.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`"World"`, `5`, `-0.5e-3`, `1e400`, `123456789012345678901234567890`, `{"a":[1,true,null]}`, ` [ ] `,
		`World`, `'x'`, `{"a":}`, `"\ud800"`, `"unterminated`, ``, ` `, `NaN`, `01`, `{} {}`, "\"\xff\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := parseJSON("--input", s)
		valid := json.Valid([]byte(s))
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--input") {
				t.Fatalf("parseJSON(%q): error %v is not a usage error naming --input", s, err)
			}
			if valid {
				t.Fatalf("parseJSON(%q) refused valid JSON: %v", s, err)
			}
			return
		}
		if !valid || string(raw) != s {
			t.Fatalf("parseJSON(%q) accepted it as %q (valid JSON: %v)", s, raw, valid)
		}
	})
}
