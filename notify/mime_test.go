package notify_test

import "mime"

type mimeDecoder = mime.WordDecoder
