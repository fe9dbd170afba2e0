package engine

import "testing"

func TestUpperSnake(t *testing.T) {
	for in, want := range map[string]string{
		"ApiUrl": "API_URL", "HTTPApiURL": "HTTP_API_URL", "api-url": "API_URL", "Bucket2Name": "BUCKET2_NAME",
		"URL": "URL", "already_SNAKE": "ALREADY_SNAKE", "éa": "A",
	} {
		if got := upperSnake(in); got != want {
			t.Errorf("upperSnake(%q) = %q, want %q", in, got, want)
		}
	}
}
