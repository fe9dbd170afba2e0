// Package awsclient holds what Sluice adds to every AWS SDK configuration it loads (the aws
// provider's, sluice aws bootstrap's, and those of the tests against internal/fakeaws): for now,
// one middleware that hands net/http each request body without a WriteTo method.
//
// Why: smithy-go (v1.28.9, the newest release) sends a request's body wrapped in a closer
// (transport/http/internal/io/safe.go) whose WriteTo, once the body is closed, returns io.EOF,
// and it closes that body as soon as client.Do returns (transport/http/client.go:116), that is,
// once the response's headers are in. net/http may not be done with the body by then: after
// writing Content-Length bytes, the transport's writeLoop drains what is left of it with
// io.Copy(io.Discard, body) (net/http/transfer.go:377), which calls WriteTo. When the response
// comes back before that drain starts (a server on loopback, a loaded machine), the drain ends
// with io.EOF, the writeLoop takes it for a failed write and closes the connection
// (net/http/transport.go:2678) while the caller is still reading the response body. The call
// then fails with "read tcp ...: use of closed network connection" although the server did what
// it asked, and the SDK's retryer sends it again: a second ExecuteChangeSet or PublishVersion.
//
// A body without WriteTo is drained through Read, where the closed body's io.EOF is the end of
// the data, as io.Copy reads it, so the connection stays open and the response is read whole.
package awsclient

import (
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// LoadOption is the config.LoadDefaultConfig option every Sluice configuration loads with. It
// adds the middleware to every client made from the configuration (and from its copies).
func LoadOption() config.LoadOptionsFunc {
	return config.WithAPIOptions(APIOptions())
}

// APIOptions are the same middleware for a client made without a configuration, from its
// service's Options.
func APIOptions() []func(*middleware.Stack) error {
	return []func(*middleware.Stack) error{addMiddleware}
}

const middlewareID = "sluice.RequestBodyWithoutWriteTo"

// addMiddleware adds the middleware at the end of the deserialize step, the last one a request
// passes before it is sent, after signing and checksums have settled its body.
func addMiddleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc(middlewareID, withoutWriteTo), middleware.After)
}

// withoutWriteTo replaces the stream of the attempt's request, if it has a WriteTo method, with
// one that has not. The attempt's request is a copy the retryer made, whose stream it rewinds
// for the next attempt; the stream itself is not touched.
func withoutWriteTo(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return next.HandleDeserialize(ctx, in)
	}
	stream := req.GetStream()
	if _, ok := stream.(io.WriterTo); !ok {
		return next.HandleDeserialize(ctx, in)
	}
	var hidden io.Reader = reader{stream}
	if seeker, ok := stream.(io.ReadSeeker); ok && req.IsStreamSeekable() {
		hidden = readSeeker{seeker}
	}
	replaced, err := req.SetStream(hidden)
	if err != nil {
		return middleware.DeserializeOutput{}, middleware.Metadata{}, err
	}
	in.Request = replaced
	return next.HandleDeserialize(ctx, in)
}

// reader and readSeeker have only the methods of their interface, whatever their value has.
type (
	reader     struct{ io.Reader }
	readSeeker struct{ io.ReadSeeker }
)
