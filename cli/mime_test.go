package cli_test

import "mime"

func decodeWords(s string) (string, error) { return new(mime.WordDecoder).DecodeHeader(s) }
