package api

import "testing"

func TestIsWrite(t *testing.T) {
	for method, want := range map[string]bool{
		"GET": false, "HEAD": false, "OPTIONS": false,
		"POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	} {
		if got := IsWrite(method); got != want {
			t.Errorf("IsWrite(%s) = %v, want %v", method, got, want)
		}
	}
}
