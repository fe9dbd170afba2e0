// Package http1 parses HTTP/1.1 messages in place for the router's fast path: request and
// response heads (Request.Parse, Response.Parse) and the bodies they frame (CopyN, CopyChunked,
// CopyAll). It faces the network on both sides, so it is small, strict and fuzzed against
// net/http's parser (see the differential fuzz targets in its tests).
//
// Framing is decided here, whole, before anything else looks at a message: a request whose
// body length is ambiguous (Content-Length with Transfer-Encoding, two different lengths, a
// transfer coding other than chunked, obsolete line folding) is refused whatever else it
// carries, so no later step (such as a hand-off to net/http) can read it another way.
//
// Limits bound the work per message: a head is at most MaxHead bytes with at most MaxFields
// header lines, and a Connection header may name at most MaxConnectionTokens headers, so
// deciding which headers are hop-by-hop costs at most MaxFields×MaxConnectionTokens
// comparisons.
//
// Spans point into the head they were parsed from; nothing here allocates per message.
package http1
